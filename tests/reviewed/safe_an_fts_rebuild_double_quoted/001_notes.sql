-- Description: notes
CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, title TEXT, body TEXT NOT NULL DEFAULT '');
