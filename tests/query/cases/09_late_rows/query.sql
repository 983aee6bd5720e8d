-- Rows behind the watermark (max event time of earlier batches - 5 minutes)
-- are dropped and counted; rows of the same batch are never late.
SELECT window_start, COUNT(*) AS n, SUM(v) AS total
FROM csv(t TIMESTAMP, v BIGINT) WATERMARK FOR t AS t - INTERVAL '5' MINUTE
GROUP BY TUMBLE(t, INTERVAL '10' MINUTE)
EMIT APPEND;
