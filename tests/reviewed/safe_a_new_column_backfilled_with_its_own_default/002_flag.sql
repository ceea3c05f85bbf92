-- Description: flag, backfilled with its own default (Rails add_column then update_all)
ALTER TABLE t ADD COLUMN flag INTEGER NOT NULL DEFAULT 1;
UPDATE t SET flag = 1 WHERE flag IS NOT 1;
