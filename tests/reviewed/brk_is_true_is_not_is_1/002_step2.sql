-- Description: CHECK respelled
CREATE TABLE mail_new (id TEXT PRIMARY KEY NOT NULL, archived INTEGER NOT NULL DEFAULT 0, CHECK (archived IS FALSE OR archived IS TRUE));
INSERT INTO mail_new SELECT * FROM mail;
DROP TABLE mail;
ALTER TABLE mail_new RENAME TO mail;
