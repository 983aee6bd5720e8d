-- Sliding one-hour windows every 30 minutes; COMPLETE keeps every window.
SELECT window_start, window_end, endpoint, COUNT(*) AS requests, MAX(latency_ms) AS worst
FROM json(endpoint STRING, status BIGINT, latency_ms DOUBLE, at TIMESTAMP)
     WATERMARK FOR at AS at - INTERVAL '30' SECOND
WHERE status >= 500 OR latency_ms > 1000
GROUP BY HOP(at, INTERVAL '30' MINUTE, INTERVAL '1' HOUR), endpoint
EMIT COMPLETE;
