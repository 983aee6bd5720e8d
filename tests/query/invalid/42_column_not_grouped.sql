-- expect: 2:16: column 'user' must appear in GROUP BY or be inside an aggregate
SELECT job_id, user, COUNT(*) FROM task_events GROUP BY job_id
