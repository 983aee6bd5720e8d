-- expect: 2:26: duplicate output column name 'word'
SELECT word, COUNT(*) AS word FROM words GROUP BY word
