-- expect: 4:14: malformed number
SELECT job_id, COUNT(*)
FROM task_events
WHERE job_id=12abc
GROUP BY job_id
