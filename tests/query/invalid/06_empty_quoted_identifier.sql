-- expect: 2:8: empty quoted identifier
SELECT "", COUNT(*) FROM words
