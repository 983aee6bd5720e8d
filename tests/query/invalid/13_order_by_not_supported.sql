-- expect: 2:48: expected ',', EMIT, ';' or end of input, found 'ORDER'
SELECT word, COUNT(*) FROM words GROUP BY word ORDER BY word
