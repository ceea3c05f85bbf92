-- Description: device-local autocomplete list; WHEN NEW.customer_name NOT NULL (postfix IS NOT NULL)
CREATE TABLE customer_names_seen (name TEXT NOT NULL);
CREATE TRIGGER tickets_customer_seen_ai AFTER INSERT ON tickets WHEN NEW.customer_name NOT NULL BEGIN
  INSERT INTO customer_names_seen (name) VALUES (NEW.customer_name);
END;
