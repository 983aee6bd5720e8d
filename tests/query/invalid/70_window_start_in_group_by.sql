-- expect: 2:54: unknown column 'window_start' in task_events
SELECT user, COUNT(*) AS n FROM task_events GROUP BY window_start
