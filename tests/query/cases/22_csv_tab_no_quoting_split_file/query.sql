-- Tab-separated values with quoting off ('"' is data) and a header line
-- (not checked).  --max-bytes-per-trigger cuts a.tsv into several batches:
-- only the range that starts at byte 0 begins with the header, the later
-- ranges (like bytes appended to a file) are all data.  EMIT UPDATE: each
-- batch's sink file holds the groups it changed.
SELECT name, COUNT(*) AS n, MAX(size) AS biggest
FROM csv(name STRING, size BIGINT) WITH ('header' = 'true', 'sep' = '\t', 'quote' = '')
GROUP BY name
EMIT UPDATE;
