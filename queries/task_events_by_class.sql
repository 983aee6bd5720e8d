-- Google cluster-trace task events by scheduling class and event type,
-- counted since the start.
SELECT scheduling_class, event_type, COUNT(*) AS events
FROM task_events TOPIC 'task-events'
GROUP BY scheduling_class, event_type;
