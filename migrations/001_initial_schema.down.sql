-- Down: undo 001_initial_schema

DROP TABLE IF EXISTS tasks;
DROP TABLE IF EXISTS lists;
