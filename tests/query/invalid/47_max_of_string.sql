-- expect: 2:20: MAX needs a BIGINT, DOUBLE or TIMESTAMP column; 'user' is STRING
SELECT job_id, MAX(user) FROM task_events GROUP BY job_id
