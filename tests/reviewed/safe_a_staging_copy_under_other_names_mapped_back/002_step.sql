-- Description: step 2
CREATE TABLE keep AS SELECT id AS old_id, pet AS p, vet AS v FROM visits;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits (id, pet, vet) SELECT old_id, p, v FROM keep;
DROP TABLE keep;
