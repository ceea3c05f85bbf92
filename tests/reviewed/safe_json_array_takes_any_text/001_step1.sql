-- Description: Books and a local doc table
CREATE TABLE books (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL);
CREATE TABLE docs (book_id TEXT, doc TEXT);
