-- expect: 2:23: duplicate output column name 'count'
SELECT word AS count, COUNT(*) FROM words GROUP BY word
