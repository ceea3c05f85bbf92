-- Description: first
CREATE TABLE mail (id TEXT PRIMARY KEY NOT NULL, archived INTEGER NOT NULL DEFAULT 0, CHECK (archived IS 0 OR archived IS 1));
