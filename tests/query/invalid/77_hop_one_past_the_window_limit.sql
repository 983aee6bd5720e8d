-- expect: 3:20: this HOP window adds every row to 10080 windows (size INTERVAL '7' DAY / slide INTERVAL '1' MINUTE); at most 10000 windows per row are allowed: the shortest slide for this size is INTERVAL '2' MINUTE (5040 windows per row)
SELECT window_start, COUNT(*) AS n FROM task_events
GROUP BY HOP(time, INTERVAL '1' MINUTE, INTERVAL '7' DAY)
