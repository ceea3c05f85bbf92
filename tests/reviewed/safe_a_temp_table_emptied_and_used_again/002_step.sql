-- Description: step 2
CREATE TEMP TABLE tmp (a, b, c);
INSERT INTO tmp SELECT id, pet, vet FROM visits;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits (id, pet, vet) SELECT a, b, c FROM tmp;
DELETE FROM tmp;
INSERT INTO tmp SELECT id, name, kind FROM pets;
DROP TABLE pets;
CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT, kind TEXT);
INSERT INTO pets (id, name, kind) SELECT a, b, c FROM tmp;
DROP TABLE tmp;
