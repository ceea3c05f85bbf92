-- Down: undo 003_add_task_tags

ALTER TABLE tasks DROP COLUMN tags;
