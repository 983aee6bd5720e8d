-- expect: 3:18: 'header' is 'true' or 'false'
SELECT city, COUNT(*) AS n FROM csv(city STRING, amount DOUBLE)
WITH ('header' = 'yes')
GROUP BY city
