-- Description: t with an INTEGER column whose default stores text
CREATE TABLE t (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL DEFAULT CURRENT_TIMESTAMP);
