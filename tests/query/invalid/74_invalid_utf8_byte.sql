-- expect: 2:33: unexpected byte 0x01
SELECT word, COUNT(*) FROM words
