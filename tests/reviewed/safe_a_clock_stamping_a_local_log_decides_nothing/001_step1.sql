-- Description: Invoices
CREATE TABLE invoices (id TEXT PRIMARY KEY NOT NULL);
