CREATE QUERY a AS SELECT city, COUNT(*) FROM csv(city STRING, amount DOUBLE)
  WITH ('header' = 'true', 'delimiter' = ';', 'quote' = '''', 'check-header' = 'TRUE')
  TOPIC 't' GROUP BY city;
CREATE QUERY b AS SELECT c, SUM(n) FROM CSV(c VARCHAR, n INT) with ('SEP' = '\t', 'quote' = '')
  GROUP BY c;
CREATE QUERY c AS SELECT c, MAX(n) FROM csv(c STRING, n BIGINT) WITH ('delimiter' = '\x01',
  'quote' = '|', 'header' = 'false') GROUP BY c;
CREATE QUERY d AS SELECT c, MIN(n) FROM csv(c STRING, n BIGINT) WITH ('delimiter' = '\u007C')
  GROUP BY c
