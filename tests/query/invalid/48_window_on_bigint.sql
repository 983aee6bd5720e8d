-- expect: 3:17: a window needs a TIMESTAMP column; 'job_id' is BIGINT
SELECT window_start, COUNT(*) AS n FROM task_events
GROUP BY TUMBLE(job_id, INTERVAL '1' HOUR)
