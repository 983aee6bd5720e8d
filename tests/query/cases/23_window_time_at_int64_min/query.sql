-- Event times at the ends of 64-bit microseconds, hourly windows: a time
-- within an hour of -2^63 has no window whose start fits in 64 bits; it is
-- counted as having no event time (it used to overflow the window start and
-- loop over 2^64 / 1 hour windows, growing state until the OOM killer
-- came).  -9223372036800000000 is the first hour that fits: its row counts.
SELECT window_start, scheduling_class, COUNT(*) AS events
FROM task_events
GROUP BY TUMBLE(time, INTERVAL '1' HOUR), scheduling_class;
