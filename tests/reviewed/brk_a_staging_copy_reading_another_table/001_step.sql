-- Description: step 1
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
CREATE TABLE visits_archive (id INTEGER, pet TEXT, vet TEXT);
