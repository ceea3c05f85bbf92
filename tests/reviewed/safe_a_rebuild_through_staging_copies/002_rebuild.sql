-- Description: rebuild through two staging copies, a column added
CREATE TABLE visits_keep AS SELECT id, pet, vet FROM visits;
CREATE TABLE visits_two AS SELECT * FROM visits_keep;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT, notes TEXT);
INSERT INTO visits (id, pet, vet) SELECT id, pet, vet FROM visits_two;
DROP TABLE visits_keep;
DROP TABLE visits_two;
