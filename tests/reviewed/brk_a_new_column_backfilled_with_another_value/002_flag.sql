-- Description: flag, backfilled with a value other than its default
ALTER TABLE t ADD COLUMN flag INTEGER NOT NULL DEFAULT 1;
ALTER TABLE t ADD COLUMN note TEXT DEFAULT 'x';
UPDATE t SET note = 'x', flag = (SELECT 0);
