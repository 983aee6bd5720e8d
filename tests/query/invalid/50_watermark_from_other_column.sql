-- expect: 2:67: the watermark must be computed from its own column
SELECT user, COUNT(*) AS n FROM task_events WATERMARK FOR time AS timestamp - INTERVAL '1' MINUTE GROUP BY user
