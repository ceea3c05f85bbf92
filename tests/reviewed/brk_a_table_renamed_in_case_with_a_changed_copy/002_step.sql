-- Description: step 2
CREATE TABLE new_visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO new_visits (id, pet, vet) SELECT id, upper(pet), vet FROM Visits;
DROP TABLE Visits;
ALTER TABLE new_visits RENAME TO visits;
