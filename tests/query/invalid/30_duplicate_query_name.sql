-- expect: 3:14: duplicate query name 'a' (line 2 has the first one)
CREATE QUERY a AS SELECT word, COUNT(*) FROM words GROUP BY word;
CREATE QUERY a AS SELECT COUNT(*) FROM lines;
