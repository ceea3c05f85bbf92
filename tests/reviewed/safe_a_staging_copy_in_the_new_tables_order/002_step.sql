-- Description: step 2
CREATE TABLE keep AS SELECT id, vet, pet FROM visits;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, vet TEXT, pet TEXT NOT NULL DEFAULT '');
INSERT INTO visits SELECT * FROM keep;
DROP TABLE keep;
