-- expect: 3:2: expected ',', AS or FROM, found 'FORM'
SELECT word, COUNT(*)
	FORM words
