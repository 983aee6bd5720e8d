-- expect: 2:47: unexpected character '§' (outside strings and quoted names only ASCII is allowed)
SELECT word, COUNT(*) FROM words WHERE word = § GROUP BY word
