-- expect: 2:53: this statement has no window
SELECT word, COUNT(*) FROM words GROUP BY word EMIT APPEND
