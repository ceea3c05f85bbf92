-- Description: first
CREATE TABLE tallies (id TEXT PRIMARY KEY NOT NULL, "true" INTEGER NOT NULL DEFAULT 0, CHECK ("true" >= 0));
