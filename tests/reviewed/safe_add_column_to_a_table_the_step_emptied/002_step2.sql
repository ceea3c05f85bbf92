-- Description: Cache emptied, then stamped
DELETE FROM cache;
ALTER TABLE cache ADD COLUMN made_at INTEGER DEFAULT (unixepoch());
