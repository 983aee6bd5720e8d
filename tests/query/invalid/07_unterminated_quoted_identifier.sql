-- expect: 2:14: unterminated quoted identifier
SELECT word, "count FROM words
