-- expect: 2:30: expected a source format (lines, words, csv, json, task_events or job_events), found 'parquet'
SELECT a, COUNT(*) AS n FROM parquet GROUP BY a
