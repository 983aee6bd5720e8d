-- expect: 2:18: '*' is only allowed in COUNT(*)
SELECT word, SUM(*) FROM words GROUP BY word
