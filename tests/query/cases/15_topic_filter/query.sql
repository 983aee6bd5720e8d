-- The directory source puts the file name in the metadata column `topic`.
CREATE QUERY words_by_file AS
  SELECT topic AS file, COUNT(*) AS words FROM words
  WHERE topic <> 'skip.txt' GROUP BY topic;
CREATE QUERY spark_lines AS
  SELECT topic AS file, COUNT(*) AS lines FROM lines
  WHERE value IN ('spark', 'spark streaming') AND partition IS NULL GROUP BY topic;
