-- expect: 7:18: this HOP window adds every row to 3600000000 windows (size INTERVAL '1' HOUR / slide INTERVAL '1' MICROSECOND); at most 10000 windows per row are allowed: the shortest slide for this size is INTERVAL '360' MILLISECOND (10000 windows per row)
SELECT window_start, endpoint, COUNT(*) AS requests, MAX(latency_ms) AS worst
FROM json(endpoint STRING, status BIGINT, latency_ms DOUBLE, at TIMESTAMP)
     TOPIC 'api-logs'
     WATERMARK FOR at AS at - INTERVAL '30' SECOND
WHERE status >= 500 OR latency_ms > 1000
GROUP BY HOP(at, INTERVAL '1' MICROSECOND, INTERVAL '1' HOUR), endpoint
EMIT APPEND;
