-- expect: 2:51: AND needs a BOOLEAN condition, found column 'job_id' (BIGINT)
SELECT user, COUNT(*) AS n FROM task_events WHERE job_id AND user IS NULL GROUP BY user
