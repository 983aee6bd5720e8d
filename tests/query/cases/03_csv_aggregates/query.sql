SELECT city, COUNT(*) AS orders, COUNT(amount) AS priced, SUM(amount) AS revenue,
       SUM(qty) AS items, MIN(qty) AS min_qty, MAX(qty), AVG(amount) AS avg_amount,
       MIN(sold_at) AS first_sale, MAX(sold_at) AS last_sale
FROM csv(city STRING, amount DOUBLE, qty BIGINT, sold_at TIMESTAMP)
GROUP BY city;
