-- Description: step 2
CREATE TABLE backup (id INTEGER, pet TEXT, chip INTEGER);
INSERT INTO backup (id, pet, chip) SELECT id, pet, chip FROM visits;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', chip TEXT);
INSERT INTO visits (id, pet, chip) SELECT id, pet, chip FROM backup;
DROP TABLE backup;
