CREATE QUERY colours AS
  SELECT colour, COUNT(*) AS n FROM csv(id BIGINT, colour STRING, size BIGINT)
  WHERE colour IN ('red', 'blue', 'black') AND id NOT IN (6) GROUP BY colour;
CREATE QUERY no_size AS
  SELECT colour, COUNT(*) AS n FROM csv(id BIGINT, colour STRING, size BIGINT)
  WHERE size IS NULL GROUP BY colour;
CREATE QUERY sized AS
  SELECT colour, MAX(size) AS biggest FROM csv(id BIGINT, colour STRING, size BIGINT)
  WHERE size IS NOT NULL AND NOT colour IN ('black') GROUP BY colour;
