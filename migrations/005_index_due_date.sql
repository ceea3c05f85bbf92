-- Migration 005: Due-date index
-- Description: Index open tasks by due date for the agenda view

CREATE INDEX IF NOT EXISTS idx_tasks_open_due ON tasks(due_date) WHERE is_completed = 0;
