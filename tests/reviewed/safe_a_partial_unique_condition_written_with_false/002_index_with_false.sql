-- Description: The active-SKU index again, condition written with FALSE
DROP INDEX ux_products_sku;
CREATE UNIQUE INDEX ux_products_sku ON products(sku) WHERE archived = FALSE;
