-- Description: rebuild whose copy is a CTE placed after INSERT INTO, rewriting name
CREATE TABLE t_new (id TEXT PRIMARY KEY, name TEXT);
INSERT INTO t_new (id, name) WITH s AS (SELECT id, upper(name) AS name FROM t) SELECT id, name FROM s;
DROP TABLE t;
ALTER TABLE t_new RENAME TO t;
