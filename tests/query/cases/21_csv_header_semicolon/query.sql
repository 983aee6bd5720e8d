-- A spreadsheet export: ';' between fields, a header line in every file,
-- checked against the declared columns, quoted fields.
--   a.csv  a UTF-8 byte order mark, names in another case, CRLF; quoted
--          fields holding ';' and "" -> three rows
--   b.csv  a header naming the columns in another order: bad_header, and its
--          line is still read by position (city=paris, amount=4, quantity=3)
--   c.csv  no header at all: its first line is taken for one (bad_header,
--          no row), the second is a row
--   d.csv  a quoted field cut by a line break: both of its lines bad_value
--          (the second would otherwise be a row 'line"'), then a row
SELECT city, COUNT(*) AS orders, SUM(amount) AS revenue, SUM(quantity) AS items
FROM csv(city STRING, amount DOUBLE, quantity BIGINT)
     WITH ('header' = 'true', 'check-header' = 'true', 'delimiter' = ';')
GROUP BY city;
