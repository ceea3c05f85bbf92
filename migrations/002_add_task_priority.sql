-- Migration 002: Task priority
-- Description: Add task priority for ordering

ALTER TABLE tasks ADD COLUMN priority INTEGER DEFAULT 0;

CREATE INDEX IF NOT EXISTS idx_tasks_priority ON tasks(priority);
