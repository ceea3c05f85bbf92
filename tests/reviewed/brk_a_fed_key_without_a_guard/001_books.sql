-- Description: books
CREATE TABLE books (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL);
