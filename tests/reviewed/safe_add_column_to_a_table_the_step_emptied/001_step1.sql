-- Description: A local cache
CREATE TABLE cache (path TEXT NOT NULL UNIQUE, data BLOB);
