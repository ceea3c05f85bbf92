-- Description: step 2
CREATE VIRTUAL TABLE fts USING fts5(body, content=''); INSERT INTO fts(rowid, body) SELECT id, body FROM notes WHERE id > 10; CREATE TRIGGER n_ai AFTER INSERT ON notes BEGIN INSERT INTO fts(rowid, body) VALUES (new.id, new.body); END; CREATE TRIGGER n_ad AFTER DELETE ON notes BEGIN INSERT INTO fts(fts, rowid, body) VALUES ('delete', old.id, old.body); END;
