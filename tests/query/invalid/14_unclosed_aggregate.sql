-- expect: 2:22: expected ')' after the aggregate's argument, found 'FROM'
SELECT word, COUNT(* FROM words GROUP BY word
