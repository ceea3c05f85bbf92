-- Description: device-local first-seen list: the insert is guarded by NOT EXISTS
CREATE TABLE books_seen (book_id TEXT NOT NULL UNIQUE, first_title TEXT NOT NULL);
CREATE TRIGGER books_seen_au AFTER UPDATE OF title ON books BEGIN
  INSERT INTO books_seen (book_id, first_title)
    SELECT NEW.id, OLD.title WHERE NOT EXISTS (SELECT 1 FROM books_seen WHERE book_id = NEW.id);
END;
