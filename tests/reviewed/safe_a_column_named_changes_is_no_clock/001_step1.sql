-- Description: Documents
CREATE TABLE docs (id TEXT PRIMARY KEY NOT NULL);
