-- Description: contentless FTS5 with a delete trigger, never filled
CREATE VIRTUAL TABLE t_fts USING fts5(body, content='');
CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN
  INSERT INTO t_fts(rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER t_ad AFTER DELETE ON t BEGIN
  INSERT INTO t_fts(t_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
CREATE TRIGGER t_au AFTER UPDATE ON t BEGIN
  INSERT INTO t_fts(t_fts, rowid, body) VALUES ('delete', old.id, old.body);
  INSERT INTO t_fts(rowid, body) VALUES (new.id, new.body);
END;
