-- Windowed UPDATE: each batch emits the window rows it changed; closed windows
-- leave the state (the watermark passed them) but were emitted when they changed.
SELECT window_start, scheduling_class, event_type, COUNT(*) AS events
FROM job_events WATERMARK FOR time AS time - INTERVAL '30' MINUTE
GROUP BY TUMBLE(time, INTERVAL '1' HOUR), scheduling_class, event_type
EMIT UPDATE;
