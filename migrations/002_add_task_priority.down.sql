-- Down: undo 002_add_task_priority

DROP INDEX IF EXISTS idx_tasks_priority;
ALTER TABLE tasks DROP COLUMN priority;
