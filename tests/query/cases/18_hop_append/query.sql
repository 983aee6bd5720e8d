-- Sliding 20-minute windows every 10 minutes, emitted once when closed.
SELECT window_start, window_end, COUNT(*) AS n, MIN(v) AS lo
FROM csv(t TIMESTAMP, v BIGINT) WATERMARK FOR t AS t - INTERVAL '1' MINUTE
GROUP BY HOP(t, INTERVAL '10' MINUTE, INTERVAL '20' MINUTE)
EMIT APPEND;
