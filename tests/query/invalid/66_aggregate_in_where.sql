-- expect: 2:40: functions and aggregates cannot be used in WHERE
SELECT word, COUNT(*) FROM words WHERE COUNT(*) > 1 GROUP BY word
