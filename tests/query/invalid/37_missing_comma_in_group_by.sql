-- expect: 2:66: expected ',', EMIT, ';' or end of input, found 'event_type'
SELECT user, event_type, COUNT(*) FROM task_events GROUP BY user event_type
