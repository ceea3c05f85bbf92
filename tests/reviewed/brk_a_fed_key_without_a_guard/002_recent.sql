-- Description: control: same as min_fed_unique_delete_first without the DELETE (really fails)
CREATE TABLE recent_books (book_id TEXT NOT NULL UNIQUE, title TEXT NOT NULL);
CREATE TRIGGER books_recent_au AFTER UPDATE OF title ON books BEGIN
  INSERT INTO recent_books (book_id, title) VALUES (NEW.id, NEW.title);
END;
