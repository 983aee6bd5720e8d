-- expect: 2:20: SUM needs a BIGINT or DOUBLE column; 'user' is STRING
SELECT job_id, SUM(user) FROM task_events GROUP BY job_id
