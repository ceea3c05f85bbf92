-- Description: step 2
CREATE TABLE keep (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO keep (id, name) SELECT id, upper(name) FROM t WHERE 1 ON CONFLICT(id) DO UPDATE SET name = excluded.name WHERE 0; CREATE TABLE t_new (id INTEGER PRIMARY KEY, name TEXT, note TEXT); INSERT INTO t_new (id, name) SELECT id, name FROM keep; DROP TABLE t; DROP TABLE keep; ALTER TABLE t_new RENAME TO t;
