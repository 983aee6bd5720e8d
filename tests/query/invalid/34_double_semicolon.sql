-- expect: 2:48: expected SELECT or CREATE QUERY, found ';'
SELECT word, COUNT(*) FROM words GROUP BY word;;
