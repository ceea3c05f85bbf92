-- Description: Items name a unit from a local list
CREATE TABLE units (code TEXT NOT NULL UNIQUE, label TEXT);
INSERT INTO units VALUES ('kg', 'kilo'), ('pcs', 'pieces');
CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, unit TEXT NOT NULL DEFAULT 'pcs');
CREATE TRIGGER items_unit BEFORE INSERT ON items
WHEN NOT EXISTS (SELECT 1 FROM units WHERE code = NEW.unit)
BEGIN SELECT RAISE(ABORT, 'unknown unit'); END;
