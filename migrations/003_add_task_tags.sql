-- Migration 003: Task tags
-- Description: Add tags to tasks as a JSON array

ALTER TABLE tasks ADD COLUMN tags TEXT DEFAULT '[]';
