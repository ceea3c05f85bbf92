-- Migration 001 (breaking_project)
-- Description: Weather stations

CREATE TABLE stations (
    station_id TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    region     TEXT NOT NULL
);
