-- Description: status literal lower-cased
DROP TRIGGER done_is_frozen;
CREATE TRIGGER done_is_frozen BEFORE UPDATE ON tasks WHEN OLD.status = "done"
BEGIN SELECT RAISE(ABORT, 'done tasks are frozen'); END;
