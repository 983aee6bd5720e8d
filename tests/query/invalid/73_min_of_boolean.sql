-- expect: 2:15: MIN needs a BIGINT, DOUBLE or TIMESTAMP column; 'ok' is BOOLEAN
SELECT k, MIN(ok) FROM csv(k STRING, ok BOOLEAN) GROUP BY k
