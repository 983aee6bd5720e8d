-- expect: 2:64: cannot compare a condition (BOOLEAN) with 1 (BIGINT)
SELECT user, COUNT(*) AS n FROM task_events WHERE (job_id = 1) = 1 GROUP BY user
