-- Description: Orders
CREATE TABLE orders (id TEXT PRIMARY KEY NOT NULL);
