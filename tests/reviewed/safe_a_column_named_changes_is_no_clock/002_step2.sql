-- Description: Revisions with a change count, never negative
CREATE TABLE revisions (id TEXT PRIMARY KEY NOT NULL, changes INTEGER NOT NULL DEFAULT 0);
CREATE TRIGGER revisions_changes BEFORE INSERT ON revisions
WHEN NEW.changes < 0
BEGIN SELECT RAISE(ABORT, 'negative'); END;
