SELECT s, COUNT(*) AS n, MAX(a) AS max_a, MIN(t) AS first_t
FROM json(a BIGINT, s STRING, t TIMESTAMP)
GROUP BY s;
