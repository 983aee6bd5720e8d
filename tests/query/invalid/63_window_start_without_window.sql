-- expect: 2:8: window_start needs a window: add TUMBLE(...) or HOP(...) to GROUP BY
SELECT window_start, word, COUNT(*) FROM words GROUP BY word
