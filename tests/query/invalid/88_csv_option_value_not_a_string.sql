-- expect: 3:18: expected the option's value in quotes, as in 'header' = 'true', found 'TRUE'
SELECT city, COUNT(*) AS n FROM csv(city STRING, amount DOUBLE)
WITH ('header' = TRUE)
GROUP BY city
