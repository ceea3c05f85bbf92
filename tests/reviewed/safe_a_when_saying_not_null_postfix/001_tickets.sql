-- Description: tickets
CREATE TABLE tickets (id TEXT PRIMARY KEY NOT NULL, customer_name TEXT);
