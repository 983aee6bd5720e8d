-- Word count: the default query (mstream --query wordcount).
-- Every whitespace-separated word of the input, counted since the start.
SELECT word, COUNT(*) AS count FROM words GROUP BY word EMIT COMPLETE;
