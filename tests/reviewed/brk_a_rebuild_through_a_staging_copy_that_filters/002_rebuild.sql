-- Description: rebuild through a staging copy keeping visits with a vet
ALTER TABLE visits RENAME TO visits_old;
CREATE TABLE visits_keep AS SELECT * FROM visits_old WHERE vet IS NOT NULL;
DROP TABLE visits_old;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits SELECT * FROM visits_keep;
DROP TABLE visits_keep;
