-- Description: t
CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);
