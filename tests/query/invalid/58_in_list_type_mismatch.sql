-- expect: 2:78: IN list value 'a' (STRING) does not match column 'scheduling_class' (BIGINT)
SELECT user, COUNT(*) AS n FROM task_events WHERE scheduling_class IN (1, 2, 'a') GROUP BY user
