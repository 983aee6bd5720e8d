-- queries/task_events_hourly.sql
SELECT window_start, window_end, scheduling_class, event_type, COUNT(*) AS events
FROM task_events WATERMARK FOR time AS time - INTERVAL '10' MINUTE
GROUP BY TUMBLE(time, INTERVAL '1' HOUR), scheduling_class, event_type
EMIT APPEND;
