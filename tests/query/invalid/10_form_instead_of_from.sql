-- expect: 4:3: expected ',' or FROM, found 'FORM'
SELECT word,
  COUNT(*) AS n
  FORM words
  GROUP BY word;
