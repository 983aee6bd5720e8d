-- expect: 4:17: the window and the watermark must use the same event-time column; the watermark is on 'time'
SELECT window_start, COUNT(*) AS n
FROM task_events WATERMARK FOR time AS time - INTERVAL '1' MINUTE
GROUP BY TUMBLE(timestamp, INTERVAL '1' HOUR)
