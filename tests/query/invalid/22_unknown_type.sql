-- expect: 2:36: expected a column type (BIGINT, INT, INTEGER, DOUBLE, FLOAT, STRING, VARCHAR, TIMESTAMP or BOOLEAN), found 'TEXT'
SELECT a, COUNT(*) AS n FROM csv(a TEXT) GROUP BY a
