-- Description: CHECK respelled
CREATE TABLE tallies_new (id TEXT PRIMARY KEY NOT NULL, "true" INTEGER NOT NULL DEFAULT 0, CHECK (true >= 0));
INSERT INTO tallies_new SELECT * FROM tallies;
DROP TABLE tallies;
ALTER TABLE tallies_new RENAME TO tallies;
