-- expect: 2:51: TOPIC needs a non-empty topic name
SELECT user, COUNT(*) AS n FROM task_events TOPIC '' GROUP BY user
