-- expect: 2:34: expected '(' and the column list of the format
SELECT a, COUNT(*) AS n FROM csv GROUP BY a
