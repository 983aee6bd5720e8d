-- Identical lines counted; each batch emits only the lines it changed.
SELECT value AS line, COUNT(*) AS hits FROM lines GROUP BY value EMIT UPDATE;
