-- Description: archive old visits, start a fresh table
ALTER TABLE visits RENAME TO visits_archive;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT);
