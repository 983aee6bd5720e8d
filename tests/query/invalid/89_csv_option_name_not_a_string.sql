-- expect: 3:7: expected a csv option's name in quotes, as in 'header', found 'header'
SELECT city, COUNT(*) AS n FROM csv(city STRING, amount DOUBLE)
WITH (header = 'true')
GROUP BY city
