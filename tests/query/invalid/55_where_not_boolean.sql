-- expect: 2:51: WHERE needs a BOOLEAN condition, found column 'job_id' (BIGINT)
SELECT user, COUNT(*) AS n FROM task_events WHERE job_id GROUP BY user
