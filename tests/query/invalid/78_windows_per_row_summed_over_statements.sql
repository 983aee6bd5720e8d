-- expect: 7:12: the statements up to this one add every input row to 17280 windows together (this one: 8640); at most 10000 per row are allowed in one file
CREATE QUERY day_tasks AS
  SELECT window_start, COUNT(*) AS n FROM task_events
  GROUP BY HOP(time, INTERVAL '10' SECOND, INTERVAL '1' DAY);
CREATE QUERY day_jobs AS
  SELECT window_start, COUNT(*) AS n FROM job_events
  GROUP BY HOP(time, INTERVAL '10' SECOND, INTERVAL '1' DAY);
