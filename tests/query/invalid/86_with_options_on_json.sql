-- expect: 3:1: WITH options are only for csv (header, delimiter, quote); json has none
SELECT city, COUNT(*) AS n FROM json(city STRING, amount DOUBLE)
WITH ('header' = 'true')
GROUP BY city
