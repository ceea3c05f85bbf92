-- Description: clearer error message (same rule), double-quoted as before
DROP TRIGGER no_empty_booking;
CREATE TRIGGER no_empty_booking BEFORE UPDATE OF passengers ON bookings
WHEN NEW.passengers < 1
BEGIN SELECT RAISE(ABORT, "Booking must have at least one passenger"); END;
