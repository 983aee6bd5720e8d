-- expect: 2:45: unexpected character '#'
SELECT word, COUNT(*) FROM words WHERE word # 'a' GROUP BY word
