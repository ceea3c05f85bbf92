-- Description: t
CREATE TABLE t (id TEXT PRIMARY KEY, name TEXT);
