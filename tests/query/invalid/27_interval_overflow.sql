-- expect: 3:32: interval is too long
SELECT window_start, COUNT(*) AS n FROM task_events
GROUP BY TUMBLE(time, INTERVAL '999999999999' DAY)
