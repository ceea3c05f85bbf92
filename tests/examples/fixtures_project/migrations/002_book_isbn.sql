-- Migration 002 (safe_project)
-- Description: Add an optional ISBN to books

ALTER TABLE books ADD COLUMN isbn TEXT;
