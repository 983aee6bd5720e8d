select "from", a, count(*) as "count", min(b) from csv("from" varchar, a int, b float, c integer, d timestamp, e boolean)
where b < 1 and c is not null and not e and d >= -5
group by "from", a
