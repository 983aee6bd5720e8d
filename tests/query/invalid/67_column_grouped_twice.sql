-- expect: 2:60: column 'user' is grouped twice
SELECT user, COUNT(*) AS n FROM task_events GROUP BY user, user
