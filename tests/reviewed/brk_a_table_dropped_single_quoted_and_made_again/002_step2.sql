-- Description: start a fresh visits table (DROP, single-quoted name)
DROP TABLE 'visits';
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
