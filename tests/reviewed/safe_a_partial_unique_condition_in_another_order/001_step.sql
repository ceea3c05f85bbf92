-- Description: step 1
CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL, archived INTEGER NOT NULL DEFAULT 0, kind TEXT);
CREATE UNIQUE INDEX ux ON products(sku) WHERE archived = 0 AND kind IS NOT NULL;
