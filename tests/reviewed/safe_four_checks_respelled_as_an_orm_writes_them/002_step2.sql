-- Description: rebuild lines; the same checks written as the ORM writes them
CREATE TABLE lines_new (id INTEGER PRIMARY KEY, qty INTEGER NOT NULL DEFAULT 1, price REAL NOT NULL DEFAULT 0, discount REAL NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'open',
  CHECK (1 <= qty), CHECK (0 <= price), CHECK ((discount >= 0) AND (discount <= 1)), CHECK (status = 'open' OR status = 'done'));
INSERT INTO lines_new (id, qty, price, discount, status) SELECT id, qty, price, discount, status FROM lines;
DROP TABLE lines;
ALTER TABLE lines_new RENAME TO lines;
