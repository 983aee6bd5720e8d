-- expect: 3:10: select window_start or window_end
SELECT event_type, COUNT(*) AS n FROM task_events
GROUP BY TUMBLE(time, INTERVAL '1' HOUR), event_type
