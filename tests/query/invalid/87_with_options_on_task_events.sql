-- expect: 2:45: WITH options are only for csv (header, delimiter, quote); task_events has none
SELECT user, COUNT(*) AS n FROM task_events WITH ('delimiter' = ';') GROUP BY user
