-- Down: undo 005_index_due_date

DROP INDEX IF EXISTS idx_tasks_open_due;
