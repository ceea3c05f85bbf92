-- Migration 004: Comments on tasks
-- Description: Add a comments table for discussion on tasks

CREATE TABLE IF NOT EXISTS comments (
    comment_id TEXT PRIMARY KEY NOT NULL,
    task_id    TEXT NOT NULL REFERENCES tasks(task_id),
    author     TEXT,
    body       TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX IF NOT EXISTS idx_comments_task_id ON comments(task_id);
