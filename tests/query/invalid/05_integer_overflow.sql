-- expect: 2:72: integer 9223372036854775808 is out of range
SELECT job_id, COUNT(*) FROM task_events WHERE job_id = -1 OR job_id = 9223372036854775808 GROUP BY job_id
