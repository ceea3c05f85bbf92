-- Description: step 2
CREATE TABLE keep (id INTEGER PRIMARY KEY, pet TEXT, vet TEXT, UNIQUE (pet, vet));
INSERT OR IGNORE INTO keep SELECT id, pet, vet FROM visits;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits SELECT * FROM keep;
DROP TABLE keep;
