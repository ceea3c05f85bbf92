-- Description: step 1
CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, title TEXT, body TEXT NOT NULL DEFAULT '');
