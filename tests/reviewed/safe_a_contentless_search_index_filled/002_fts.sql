-- Description: Contentless FTS5 index (content=''), filled by INSERT ... SELECT, with insert and delete triggers
CREATE VIRTUAL TABLE recipes_idx USING fts5(title, steps, content='');
INSERT INTO recipes_idx(rowid, title, steps) SELECT id, title, steps FROM recipes;
CREATE TRIGGER recipes_idx_ai AFTER INSERT ON recipes BEGIN
  INSERT INTO recipes_idx(rowid, title, steps) VALUES (new.id, new.title, new.steps);
END;
CREATE TRIGGER recipes_idx_ad AFTER DELETE ON recipes BEGIN
  INSERT INTO recipes_idx(recipes_idx, rowid, title, steps) VALUES ('delete', old.id, old.title, old.steps);
END;
CREATE TRIGGER recipes_idx_au AFTER UPDATE ON recipes BEGIN
  INSERT INTO recipes_idx(recipes_idx, rowid, title, steps) VALUES ('delete', old.id, old.title, old.steps);
  INSERT INTO recipes_idx(rowid, title, steps) VALUES (new.id, new.title, new.steps);
END;
