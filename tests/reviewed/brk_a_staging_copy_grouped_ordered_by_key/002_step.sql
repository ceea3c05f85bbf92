-- Description: step 2
CREATE TABLE keep AS SELECT id, pet, vet FROM visits GROUP BY pet, vet ORDER BY id;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits SELECT * FROM keep;
DROP TABLE keep;
