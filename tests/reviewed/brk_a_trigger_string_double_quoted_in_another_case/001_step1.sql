-- Description: tasks; a task marked Done is frozen
CREATE TABLE tasks (id INTEGER PRIMARY KEY, status TEXT NOT NULL DEFAULT 'Open');
CREATE TRIGGER done_is_frozen BEFORE UPDATE ON tasks WHEN OLD.status = "Done"
BEGIN SELECT RAISE(ABORT, 'done tasks are frozen'); END;
