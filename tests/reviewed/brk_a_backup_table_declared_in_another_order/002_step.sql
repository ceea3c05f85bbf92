-- Description: step 2
CREATE TABLE backup (id INTEGER, vet TEXT, pet TEXT);
INSERT INTO backup SELECT * FROM visits;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits (id, pet, vet) SELECT id, pet, vet FROM backup;
DROP TABLE backup;
