-- Migration 001 (safe_project)
-- Description: Books on the shelf

CREATE TABLE books (
    book_id TEXT PRIMARY KEY NOT NULL,
    title   TEXT NOT NULL,
    pages   INTEGER
);
