-- expect: 4:6: EMIT APPEND needs a window (TUMBLE or HOP) and a WATERMARK
SELECT window_start, COUNT(*) AS n FROM task_events
GROUP BY TUMBLE(time, INTERVAL '1' HOUR)
EMIT APPEND
