-- Description: step 2
CREATE TABLE backup (id, pet, vet);
INSERT INTO backup SELECT id, pet, vet FROM visits;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits SELECT * FROM backup;
DROP TABLE backup;
CREATE TABLE backup (id, name, species);
INSERT INTO backup SELECT id, name, species FROM pets;
DROP TABLE pets;
CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT NOT NULL, species TEXT);
INSERT INTO pets SELECT * FROM backup;
DROP TABLE backup;
