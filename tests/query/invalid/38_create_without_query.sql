-- expect: 2:8: expected QUERY after CREATE
CREATE VIEW v AS SELECT word, COUNT(*) FROM words GROUP BY word
