-- expect: 4:7: unknown column 'tim' in task_events; the columns are: time, missing_info, job_id
SELECT user, COUNT(*) AS n
FROM task_events
WHERE tim > 0
GROUP BY user
