-- expect: 2:56: expected an operator (=, <>, <, IN, IS, AND, OR...), GROUP BY, EMIT, ';' or end of input, found string 'x'
SELECT user, COUNT(*) AS n FROM task_events WHERE user 'x' GROUP BY user
