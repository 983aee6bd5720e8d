-- expect: 2:59: the watermark column must be a TIMESTAMP; 'user' is STRING
SELECT user, COUNT(*) AS n FROM task_events WATERMARK FOR user AS user - INTERVAL '1' MINUTE GROUP BY user
