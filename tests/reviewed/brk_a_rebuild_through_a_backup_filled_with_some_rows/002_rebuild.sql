-- Description: rebuild through a backup table filled with visits that have a vet
ALTER TABLE visits RENAME TO visits_old;
CREATE TABLE visits_backup (id INTEGER, pet TEXT, vet TEXT);
INSERT INTO visits_backup (id, pet, vet) SELECT id, pet, vet FROM visits_old WHERE vet IS NOT NULL;
DROP TABLE visits_old;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits (id, pet, vet) SELECT id, pet, vet FROM visits_backup;
DROP TABLE visits_backup;
