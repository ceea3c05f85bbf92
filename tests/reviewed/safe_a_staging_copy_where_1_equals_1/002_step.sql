-- Description: step 2
CREATE TABLE keep AS SELECT id, pet, vet FROM visits WHERE 1 = 1;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits SELECT * FROM keep;
DROP TABLE keep;
