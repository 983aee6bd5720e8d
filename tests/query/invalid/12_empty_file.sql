-- expect: 1:1: expected a statement (SELECT or CREATE QUERY), found end of input

/* nothing here */
