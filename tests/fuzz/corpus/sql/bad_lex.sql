SELECT word, COUNT(*) FROM words WHERE word = 'unterminated
/* open comment