SELECT flag, COUNT(*) AS n, SUM(x) AS sx, SUM(y) AS sy
FROM csv(x BIGINT, y DOUBLE, flag BOOLEAN, note STRING)
GROUP BY flag;
