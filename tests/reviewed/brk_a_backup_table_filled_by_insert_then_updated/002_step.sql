-- Description: step 2
CREATE TABLE backup (id INTEGER, pet TEXT, vet TEXT);
INSERT INTO backup SELECT id, pet, vet FROM visits;
UPDATE backup SET vet = upper(vet);
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits SELECT * FROM backup;
DROP TABLE backup;
