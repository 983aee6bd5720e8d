-- Quoted names that are not valid Prometheus names: label names are made valid
-- ("a-b" -> a_b, a clash gets _2, "__x" -> l__x), the family name too.
SELECT "a-b", "a_b", "__x", COUNT(*) AS "rows per key", MAX(v) AS "2nd"
FROM csv("a-b" STRING, "a_b" STRING, "__x" BIGINT, v DOUBLE)
GROUP BY "a-b", "a_b", "__x";
