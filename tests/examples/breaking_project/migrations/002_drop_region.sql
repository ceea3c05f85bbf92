-- Migration 002 (breaking_project)
-- Description: Drop the station region (breaking: v1 still requires it)

ALTER TABLE stations DROP COLUMN region;
