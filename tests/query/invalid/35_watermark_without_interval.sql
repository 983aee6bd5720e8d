-- expect: 2:74: expected INTERVAL (as in INTERVAL '5' MINUTE), found number '10'
SELECT user, COUNT(*) AS n FROM task_events WATERMARK FOR time AS time - 10 GROUP BY user
