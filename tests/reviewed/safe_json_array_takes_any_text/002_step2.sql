-- Description: A JSON array of each new book's title
CREATE TRIGGER books_doc AFTER INSERT ON books
BEGIN INSERT INTO docs VALUES (NEW.id, json_array(lower(NEW.title))); END;
