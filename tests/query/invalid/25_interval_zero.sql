-- expect: 2:91: an interval length must be a positive integer
SELECT window_start, COUNT(*) AS n FROM task_events WATERMARK FOR time AS time - INTERVAL '0' SECOND GROUP BY TUMBLE(time, INTERVAL '1' HOUR)
