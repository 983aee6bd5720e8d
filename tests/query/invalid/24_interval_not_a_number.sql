-- expect: 3:32: an interval length must be a positive integer
SELECT window_start, COUNT(*) AS n FROM task_events
GROUP BY TUMBLE(time, INTERVAL 'five' MINUTE)
