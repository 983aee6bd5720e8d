-- A NULL group (member absent or null) and an empty-string group are different
-- rows; on /metrics both would show as label "", so only one series is exported.
SELECT region, kind, COUNT(*) AS n, AVG(v) AS mean
FROM json(region STRING, kind BIGINT, v DOUBLE)
GROUP BY region, kind;
