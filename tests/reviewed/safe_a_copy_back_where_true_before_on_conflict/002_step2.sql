-- Description: rebuild, copy back as an upsert (SQLite needs WHERE true there)
ALTER TABLE visits RENAME TO visits_old;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT, notes TEXT);
INSERT INTO visits (id, pet, vet) SELECT id, pet, vet FROM visits_old WHERE true ON CONFLICT (id) DO NOTHING;
DROP TABLE visits_old;
