-- expect: 3:7: 'check-header' compares the header line with the declared columns: it needs 'header' = 'true'
SELECT city, COUNT(*) AS n FROM csv(city STRING, amount DOUBLE)
WITH ('check-header' = 'true')
GROUP BY city
