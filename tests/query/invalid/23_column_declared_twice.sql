-- expect: 2:45: column 'a' is declared twice
SELECT a, COUNT(*) AS n FROM json(a BIGINT, a STRING) GROUP BY a
