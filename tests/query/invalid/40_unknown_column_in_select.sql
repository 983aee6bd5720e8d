-- expect: 2:8: unknown column 'wrd' in words; the columns are: word; metadata columns: topic, partition, offset, timestamp, key
SELECT wrd, COUNT(*) FROM words GROUP BY word
