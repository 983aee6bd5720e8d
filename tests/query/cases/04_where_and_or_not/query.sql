-- Kept: (n > 1 AND k <> 'z') OR NOT (g <> 'c'): rows with n > 1 and k not z (an empty
-- CSV field is the empty string, not NULL), plus every row of group c.
SELECT g, COUNT(*) AS kept, SUM(n) AS total
FROM csv(g STRING, n BIGINT, k STRING)
WHERE (n > 1 AND k <> 'z') OR NOT (g <> 'c')
GROUP BY g;
