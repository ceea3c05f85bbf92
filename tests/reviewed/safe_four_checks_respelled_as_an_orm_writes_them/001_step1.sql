-- Description: order lines with range checks on four columns
CREATE TABLE lines (id INTEGER PRIMARY KEY, qty INTEGER NOT NULL DEFAULT 1, price REAL NOT NULL DEFAULT 0, discount REAL NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'open',
  CHECK (qty >= 1), CHECK (price >= 0), CHECK (discount >= 0 AND discount <= 1), CHECK (status IN ('open', 'done')));
