-- Down: undo 004_add_task_comments

DROP TABLE IF EXISTS comments;
