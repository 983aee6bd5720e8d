SELECT window_start, window_end, city, SUM(amount) AS total, MAX(at) AS last
FROM json(city STRING, amount DOUBLE, at TIMESTAMP, ok BOOLEAN, n BIGINT) TOPIC 'sales'
WATERMARK FOR at AS at - INTERVAL '30' SECONDS
WHERE ok AND n IN (1, 2) AND key IS NULL
GROUP BY HOP(at, INTERVAL '5' MINUTE, INTERVAL '1' HOUR), city
EMIT APPEND
