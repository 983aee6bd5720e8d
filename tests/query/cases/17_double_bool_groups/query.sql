SELECT ok, ratio, COUNT(*) AS n, SUM(delta) AS net, MIN(delta) AS lo, MAX(delta) AS hi
FROM csv(ok BOOLEAN, ratio DOUBLE, delta DOUBLE)
GROUP BY ok, ratio
EMIT COMPLETE;
