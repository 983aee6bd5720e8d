CREATE QUERY task_events_by_class AS
  SELECT scheduling_class, event_type, COUNT(*) AS events
  FROM task_events TOPIC 'task-events' GROUP BY scheduling_class, event_type;
CREATE QUERY job_events_by_class AS
  SELECT scheduling_class, event_type, COUNT(*) AS events
  FROM job_events TOPIC 'job-events' GROUP BY scheduling_class, event_type;
