SELECT window_start, SUM(user), COUNT(*) FROM task_events
WATERMARK FOR time AS timestamp - INTERVAL '0' MINUTE
WHERE event_type = 1 AND time > 1.5 AND user = NULL
GROUP BY HOP(time, INTERVAL '7' MINUTE, INTERVAL '1' HOUR) EMIT APPEND
