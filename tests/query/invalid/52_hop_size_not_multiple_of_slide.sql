-- expect: 3:41: the HOP window size (INTERVAL '1' HOUR) must be a multiple of its slide (INTERVAL '7' MINUTE)
SELECT window_start, COUNT(*) AS n FROM task_events
GROUP BY HOP(time, INTERVAL '7' MINUTE, INTERVAL '1' HOUR)
