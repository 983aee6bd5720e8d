-- Google cluster-trace job events by scheduling class and event type,
-- counted since the start.
SELECT scheduling_class, event_type, COUNT(*) AS events
FROM job_events TOPIC 'job-events'
GROUP BY scheduling_class, event_type;
