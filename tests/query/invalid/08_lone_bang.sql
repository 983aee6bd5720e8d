-- expect: 2:51: unexpected character '!'
SELECT user, COUNT(*) FROM task_events WHERE user ! 'x' GROUP BY user
