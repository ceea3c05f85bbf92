-- Description: t with free text meta
CREATE TABLE t (id TEXT PRIMARY KEY, meta TEXT);
