-- Description: archive old visits (name single-quoted), start a fresh table
ALTER TABLE visits RENAME TO 'visits_archive';
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
