-- Description: rebuild through a renamed copy, rows copied back
ALTER TABLE visits RENAME TO visits_old;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT, notes TEXT);
INSERT INTO visits (id, pet) SELECT id, pet FROM visits_old;
DROP TABLE visits_old;
