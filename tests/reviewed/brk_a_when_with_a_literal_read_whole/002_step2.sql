-- Description: Currency from a list; the default '' is not on it
ALTER TABLE orders ADD COLUMN currency TEXT NOT NULL DEFAULT '';
CREATE TRIGGER orders_currency BEFORE INSERT ON orders
WHEN NEW.currency NOT IN ('EUR', 'USD')
BEGIN SELECT RAISE(ABORT, 'unknown currency'); END;
