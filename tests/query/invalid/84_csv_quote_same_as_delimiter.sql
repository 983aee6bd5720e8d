-- expect: 3:36: the quote and the delimiter must differ (both would be '|'); 'quote' = '' turns quoting off
SELECT city, COUNT(*) AS n FROM csv(city STRING, amount DOUBLE)
WITH ('delimiter' = '|', 'quote' = '|')
GROUP BY city
