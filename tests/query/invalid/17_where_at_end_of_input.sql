-- expect: 2:39: expected a column, a literal or '(', found end of input
SELECT word, COUNT(*) FROM words WHERE  
-- nothing follows
