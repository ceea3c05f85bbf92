-- Description: step 2
CREATE INDEX i ON d(json(doc));
