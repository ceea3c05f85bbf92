-- Description: step 2
CREATE TABLE keep (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO keep (id, name) SELECT id, name FROM t WHERE 0 UNION ALL SELECT id, upper(name) FROM t; CREATE TABLE t_new (id INTEGER PRIMARY KEY, name TEXT, note TEXT); INSERT INTO t_new (id, name) SELECT id, name FROM keep; DROP TABLE t; DROP TABLE keep; ALTER TABLE t_new RENAME TO t;
