-- expect: 4:1: unterminated comment: '/*' has no closing '*/'
SELECT word, COUNT(*) FROM words
GROUP BY word
/* the end
