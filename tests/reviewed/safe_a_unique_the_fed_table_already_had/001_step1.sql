-- Description: Notes with a local search table, one row per note
CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, title TEXT);
CREATE TABLE search (note_id TEXT NOT NULL UNIQUE, words TEXT);
CREATE TRIGGER notes_search AFTER INSERT ON notes
BEGIN INSERT INTO search (note_id, words) VALUES (NEW.id, lower(NEW.title)); END;
