-- Description: Priority limited to 0-5 (table rebuild)
CREATE TABLE tasks_new (
    task_id      TEXT PRIMARY KEY NOT NULL,
    list_id      TEXT NOT NULL REFERENCES lists(list_id),
    content      TEXT NOT NULL,
    is_completed INTEGER NOT NULL DEFAULT 0,
    due_date     TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    priority     INTEGER DEFAULT 0 CHECK (priority BETWEEN 0 AND 5),
    tags         TEXT DEFAULT '[]'
);
INSERT INTO tasks_new SELECT task_id, list_id, content, is_completed, due_date, created_at,
    MIN(MAX(COALESCE(priority, 0), 0), 5), tags FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;
CREATE INDEX idx_tasks_list_id ON tasks(list_id);
CREATE INDEX idx_tasks_priority ON tasks(priority);
CREATE INDEX idx_tasks_open_due ON tasks(due_date) WHERE is_completed = 0;
