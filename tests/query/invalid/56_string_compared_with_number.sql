-- expect: 2:62: cannot compare column 'event_type' (STRING) with 1 (BIGINT)
SELECT user, COUNT(*) AS n FROM task_events WHERE event_type = 1 GROUP BY user
