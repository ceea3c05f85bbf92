-- Description: Recipes
CREATE TABLE recipes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, steps TEXT);
