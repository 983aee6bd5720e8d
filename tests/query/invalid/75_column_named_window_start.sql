-- expect: 2:39: window_start names a window bound in SELECT; give the column another name
SELECT k, COUNT(*) FROM csv(k STRING, "window_start" TIMESTAMP) GROUP BY k
