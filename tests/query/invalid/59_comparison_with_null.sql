-- expect: 2:58: NULL can only be tested with IS NULL or IS NOT NULL
SELECT user, COUNT(*) AS n FROM task_events WHERE user = NULL GROUP BY user
