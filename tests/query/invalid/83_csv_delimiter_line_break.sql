-- expect: 3:21: a delimiter is one ASCII character other than a line break
SELECT city, COUNT(*) AS n FROM csv(city STRING, amount DOUBLE)
WITH ('delimiter' = '\x0A')
GROUP BY city
