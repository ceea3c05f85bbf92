-- Description: Products, a SKU unique among active ones
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ux_products_sku ON products(sku) WHERE archived = 0;
