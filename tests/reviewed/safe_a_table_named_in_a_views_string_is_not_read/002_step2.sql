-- Description: Deals in a known stage
CREATE TABLE deals (id TEXT PRIMARY KEY NOT NULL, stage TEXT NOT NULL DEFAULT 'lead');
CREATE TRIGGER deals_stage BEFORE INSERT ON deals
WHEN NEW.stage NOT IN (SELECT code FROM deal_stages)
BEGIN SELECT RAISE(ABORT, 'unknown stage'); END;
