/* every WHERE construct */
SELECT user, COUNT(*), SUM(cpu_request) AS cpu, AVG(priority), MIN(time), MAX(job_id), COUNT(machine_id)
FROM task_events
WHERE NOT (event_type IN ('SUBMIT', 'FAIL') OR priority NOT IN (1, 2, -3))
  AND (user IS NOT NULL OR machine_id IS NULL) AND cpu_request >= 0.25e0
  AND time > 600000000 AND 5 <> scheduling_class AND "user" != 'it''s'
  AND ((job_id = 1) = TRUE OR FALSE)
GROUP BY user EMIT UPDATE
