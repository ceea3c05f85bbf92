-- Description: step 2
DROP INDEX ux;
CREATE UNIQUE INDEX ux ON products(sku) WHERE kind IS NOT NULL AND archived = FALSE;
