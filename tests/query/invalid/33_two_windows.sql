-- expect: 3:43: a statement can have at most one window
SELECT window_start, COUNT(*) AS n FROM task_events
GROUP BY TUMBLE(time, INTERVAL '1' HOUR), HOP(time, INTERVAL '1' MINUTE, INTERVAL '1' HOUR)
