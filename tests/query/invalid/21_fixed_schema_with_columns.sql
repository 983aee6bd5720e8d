-- expect: 2:33: words has a fixed schema
SELECT word, COUNT(*) FROM words(word STRING) GROUP BY word
