-- expect: 2:1: a query needs at least one aggregate
SELECT word FROM words GROUP BY word
