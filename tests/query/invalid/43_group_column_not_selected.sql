-- expect: 2:55: GROUP BY column 'event_type' must also be selected
SELECT user, COUNT(*) FROM task_events GROUP BY user, event_type
