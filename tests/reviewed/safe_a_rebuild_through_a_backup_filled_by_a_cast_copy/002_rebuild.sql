-- Description: rebuild through a backup table filled by a cast copy; a summary table beside
CREATE TABLE visits_backup (id INTEGER, pet TEXT, vet TEXT);
INSERT INTO visits_backup (id, pet, vet) SELECT CAST(id AS INTEGER), pet, vet FROM visits;
CREATE TABLE visit_stats AS SELECT vet, count(*) AS n FROM visits WHERE vet IS NOT NULL GROUP BY vet;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits SELECT * FROM visits_backup;
DROP TABLE visits_backup;
