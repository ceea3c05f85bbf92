-- Description: step 1
CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);
