-- expect: 3:26: the csv option 'delimiter' is given twice
SELECT city, COUNT(*) AS n FROM csv(city STRING, amount DOUBLE)
WITH ('delimiter' = ';', 'SEP' = '|')
GROUP BY city
