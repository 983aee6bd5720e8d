-- expect: 2:54: expected NULL or NOT NULL after IS, found number '5'
SELECT user, COUNT(*) FROM task_events WHERE user IS 5 GROUP BY user
