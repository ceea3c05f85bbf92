-- Description: step 1
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
