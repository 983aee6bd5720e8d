-- expect: 2:20: AVG needs a BIGINT or DOUBLE column; 'time' is TIMESTAMP
SELECT job_id, AVG(time) FROM task_events GROUP BY job_id
