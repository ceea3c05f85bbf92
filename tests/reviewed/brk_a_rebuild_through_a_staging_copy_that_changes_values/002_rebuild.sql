-- Description: rebuild through a staging copy that upper-cases pet
CREATE TABLE visits_keep AS SELECT id, upper(pet) AS pet, vet FROM visits;
DROP TABLE visits;
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT NOT NULL DEFAULT '', vet TEXT);
INSERT INTO visits SELECT * FROM visits_keep;
DROP TABLE visits_keep;
