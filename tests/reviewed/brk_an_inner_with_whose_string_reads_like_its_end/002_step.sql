-- Description: step 2
INSERT INTO t (id, name) WITH c AS (SELECT 100 AS id, 'a) SELECT' AS name) SELECT id, name FROM c;
