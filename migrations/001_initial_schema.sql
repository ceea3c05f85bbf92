-- Migration 001: Initial schema
-- Description: Initial schema with lists and tasks

CREATE TABLE IF NOT EXISTS lists (
    list_id    TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE IF NOT EXISTS tasks (
    task_id      TEXT PRIMARY KEY NOT NULL,
    list_id      TEXT NOT NULL REFERENCES lists(list_id),
    content      TEXT NOT NULL,
    is_completed INTEGER NOT NULL DEFAULT 0,
    due_date     TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX IF NOT EXISTS idx_tasks_list_id ON tasks(list_id);
