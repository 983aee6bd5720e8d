-- Task and job events of the Google cluster trace, each from its own Kafka
-- topic, by scheduling class and event type.  (The directory source ignores
-- TOPIC: every statement sees every line, and lines of the other table are
-- counted as malformed, reason wrong_column_count.)
CREATE QUERY task_events_by_class AS
  SELECT scheduling_class, event_type, COUNT(*) AS events
  FROM task_events TOPIC 'task-events'
  GROUP BY scheduling_class, event_type;
CREATE QUERY job_events_by_class AS
  SELECT scheduling_class, event_type, COUNT(*) AS events
  FROM job_events TOPIC 'job-events'
  GROUP BY scheduling_class, event_type;
