-- Description: visits
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet TEXT);
