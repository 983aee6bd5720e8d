-- Task events per hour of trace time, by scheduling class and event type.
-- The watermark trails the latest event by 10 minutes; each hour's rows are
-- emitted once, when the watermark passes the end of the hour.  The first row's
-- time, 0, is the trace's "before the trace" sentinel: it carries no event
-- time (rows_no_event_time), so it is in no window.
SELECT window_start, window_end, scheduling_class, event_type, COUNT(*) AS events
FROM task_events TOPIC 'task-events'
     WATERMARK FOR time AS time - INTERVAL '10' MINUTE
GROUP BY TUMBLE(time, INTERVAL '1' HOUR), scheduling_class, event_type
EMIT APPEND;
