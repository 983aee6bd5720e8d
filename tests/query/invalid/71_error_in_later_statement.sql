-- expect: 5:73: expected COMPLETE, UPDATE or APPEND after EMIT, found 'ALL'
CREATE QUERY a AS
  SELECT word, COUNT(*) FROM words GROUP BY word;

CREATE QUERY b AS SELECT value, COUNT(*) FROM lines GROUP BY value EMIT ALL;
