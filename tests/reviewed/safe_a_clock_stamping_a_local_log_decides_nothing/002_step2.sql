-- Description: Payments must be positive; a local log stamps when each was seen
CREATE TABLE payments (id TEXT PRIMARY KEY NOT NULL, cents INTEGER NOT NULL);
CREATE TABLE seen (payment_id TEXT, at TEXT);
CREATE TRIGGER payments_positive BEFORE INSERT ON payments
BEGIN
    SELECT RAISE(ABORT, 'not positive') WHERE NEW.cents <= 0;
    INSERT INTO seen VALUES (NEW.id, datetime('now'));
END;
