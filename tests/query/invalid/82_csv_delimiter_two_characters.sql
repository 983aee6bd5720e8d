-- expect: 3:21: a delimiter is one ASCII character other than a line break (a tab is '\t'; any other as '\xHH')
SELECT city, COUNT(*) AS n FROM csv(city STRING, amount DOUBLE)
WITH ('delimiter' = '::')
GROUP BY city
