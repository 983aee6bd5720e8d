-- A filter on the word itself keeps the fast tokenizer path.
SELECT word, COUNT(*) AS count FROM words
WHERE word IN ('to', 'be', 'or', 'not') AND NOT word = 'or' OR word > 'x'
GROUP BY word;
