SELECT scheduling_class, COUNT(*)
  FORM task_events
