-- Description: Taxed orders need a VAT country (defaults 0.2 and 'FR' pass)
ALTER TABLE orders ADD COLUMN vat_rate REAL NOT NULL DEFAULT 0.2;
ALTER TABLE orders ADD COLUMN vat_country TEXT DEFAULT 'FR';
CREATE TRIGGER orders_vat BEFORE INSERT ON orders
WHEN NEW.vat_rate > 0
BEGIN SELECT RAISE(ABORT, 'no VAT country') WHERE NEW.vat_country IS NULL; END;
