-- Description: step 2
CREATE TABLE keep AS SELECT id, pet, vet, 'normal' AS priority FROM visits;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT, priority TEXT NOT NULL DEFAULT 'normal');
INSERT INTO visits SELECT * FROM keep;
DROP TABLE keep;
