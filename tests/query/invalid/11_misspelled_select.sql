-- expect: 2:1: expected SELECT or CREATE QUERY, found 'SELEC'
SELEC word, COUNT(*) FROM words
