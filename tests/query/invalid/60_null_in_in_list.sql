-- expect: 2:65: NULL can only be tested with IS NULL or IS NOT NULL
SELECT user, COUNT(*) AS n FROM task_events WHERE user IN ('a', NULL) GROUP BY user
