-- expect: 2:56: cannot compare column 'time' (TIMESTAMP) with 1.5 (DOUBLE); a TIMESTAMP compares with a TIMESTAMP or with an integer literal
SELECT user, COUNT(*) AS n FROM task_events WHERE time > 1.5 GROUP BY user
