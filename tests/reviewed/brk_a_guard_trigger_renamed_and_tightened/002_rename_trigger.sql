-- Description: trigger naming convention, and now at least two passengers
DROP TRIGGER no_empty_booking;
CREATE TRIGGER trg_bookings_no_empty BEFORE UPDATE OF passengers ON bookings
WHEN NEW.passengers < 2
BEGIN SELECT RAISE(ABORT, 'a booking needs a passenger'); END;
