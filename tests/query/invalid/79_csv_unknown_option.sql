-- expect: 3:26: unknown csv option 'seperator'; the options are 'header', 'delimiter' (or 'sep'), 'quote' and 'check-header'
SELECT city, COUNT(*) AS n FROM csv(city STRING, amount DOUBLE)
WITH ('header' = 'true', 'seperator' = ';')
GROUP BY city
