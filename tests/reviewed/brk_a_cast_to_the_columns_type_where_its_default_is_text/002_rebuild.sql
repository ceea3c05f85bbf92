-- Description: identical rebuild, copy through CAST to the column's own type
CREATE TABLE t_new (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL DEFAULT CURRENT_TIMESTAMP);
INSERT INTO t_new (id, created_at) SELECT id, CAST(created_at AS INTEGER) FROM t;
DROP TABLE t;
ALTER TABLE t_new RENAME TO t;
