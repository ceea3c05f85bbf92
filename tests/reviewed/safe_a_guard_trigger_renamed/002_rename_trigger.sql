-- Description: trigger naming convention (same rule)
DROP TRIGGER no_empty_booking;
CREATE TRIGGER trg_bookings_no_empty BEFORE UPDATE OF passengers ON bookings
WHEN NEW.passengers < 1
BEGIN SELECT RAISE(ABORT, 'a booking needs a passenger'); END;
