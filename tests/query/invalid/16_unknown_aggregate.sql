-- expect: 2:14: unknown aggregate 'TOTAL'
SELECT user, TOTAL(cpu_request) FROM task_events GROUP BY user
