-- Description: CHECK respelled
CREATE TABLE cases_new (id TEXT PRIMARY KEY NOT NULL, state TEXT NOT NULL DEFAULT 'Open', CHECK (state IN ("open", "closed")));
INSERT INTO cases_new SELECT * FROM cases;
DROP TABLE cases;
ALTER TABLE cases_new RENAME TO cases;
