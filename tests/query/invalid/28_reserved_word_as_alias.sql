-- expect: 2:26: expected a name after AS (from is a reserved word
SELECT word, COUNT(*) AS from FROM words GROUP BY word
