-- Description: Products; stages in a local table behind a view
CREATE TABLE products (id TEXT PRIMARY KEY NOT NULL);
CREATE TABLE stages (code TEXT NOT NULL UNIQUE);
INSERT INTO stages VALUES ('lead'), ('won');
CREATE VIEW deal_stages AS SELECT code, 'picked from products' AS hint FROM stages;
