-- expect: 3:1: a file with several statements must name each one
CREATE QUERY a AS SELECT word, COUNT(*) FROM words GROUP BY word;
SELECT value, COUNT(*) FROM lines GROUP BY value;
CREATE QUERY c AS SELECT COUNT(*) FROM lines;
