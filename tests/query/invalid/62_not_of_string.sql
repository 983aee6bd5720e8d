-- expect: 2:55: NOT needs a BOOLEAN condition, found column 'user' (STRING)
SELECT user, COUNT(*) AS n FROM task_events WHERE NOT user GROUP BY user
