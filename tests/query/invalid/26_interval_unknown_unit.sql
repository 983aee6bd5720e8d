-- expect: 3:36: expected a time unit (MICROSECOND, MILLISECOND, SECOND, MINUTE, HOUR or DAY), found 'WEEK'
SELECT window_start, COUNT(*) AS n FROM task_events
GROUP BY TUMBLE(time, INTERVAL '1' WEEK)
