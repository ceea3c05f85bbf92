-- Description: step 2
CREATE TABLE keep AS SELECT * FROM visits;
INSERT INTO keep SELECT * FROM visits_archive;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits SELECT * FROM keep;
DROP TABLE keep;
