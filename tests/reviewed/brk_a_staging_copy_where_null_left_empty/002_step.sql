-- Description: step 2
CREATE TABLE keep AS SELECT * FROM t WHERE NULL; CREATE TABLE t_new (id INTEGER PRIMARY KEY, name TEXT, note TEXT); INSERT INTO t_new (id, name) SELECT id, name FROM keep; DROP TABLE t; DROP TABLE keep; ALTER TABLE t_new RENAME TO t;
