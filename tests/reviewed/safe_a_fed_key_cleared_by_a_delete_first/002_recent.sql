-- Description: device-local recent shelf: the trigger deletes the row it is about to insert
CREATE TABLE recent_books (book_id TEXT NOT NULL UNIQUE, title TEXT NOT NULL);
CREATE TRIGGER books_recent_au AFTER UPDATE OF title ON books BEGIN
  DELETE FROM recent_books WHERE book_id = NEW.id;
  INSERT INTO recent_books (book_id, title) VALUES (NEW.id, NEW.title);
END;
