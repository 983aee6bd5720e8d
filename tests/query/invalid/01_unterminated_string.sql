-- expect: 2:47: unterminated string
SELECT word, COUNT(*) FROM words WHERE word = 'abc
GROUP BY word
