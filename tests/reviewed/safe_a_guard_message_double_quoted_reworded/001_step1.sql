-- Description: bookings; passengers can never drop below 1
CREATE TABLE bookings (id INTEGER PRIMARY KEY, passengers INTEGER NOT NULL DEFAULT 1);
CREATE TRIGGER no_empty_booking BEFORE UPDATE OF passengers ON bookings
WHEN NEW.passengers < 1
BEGIN SELECT RAISE(ABORT, "a booking needs a passenger"); END;
