-- expect: 2:14: a query name is lowercase letters, digits and '_'; 'Word-Count' is not
CREATE QUERY "Word-Count" AS SELECT word, COUNT(*) FROM words GROUP BY word
