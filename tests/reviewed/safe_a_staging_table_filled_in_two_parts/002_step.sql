-- Description: step 2
CREATE TABLE keep (id INTEGER, pet TEXT, vet TEXT);
INSERT INTO keep (id, pet, vet) SELECT id, pet, vet FROM visits WHERE vet IS NULL;
INSERT INTO keep (id, pet, vet) SELECT id, pet, vet FROM visits WHERE vet IS NOT NULL;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits (id, pet, vet) SELECT id, pet, vet FROM keep;
DROP TABLE keep;
