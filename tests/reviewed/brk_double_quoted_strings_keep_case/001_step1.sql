-- Description: first
CREATE TABLE cases (id TEXT PRIMARY KEY NOT NULL, state TEXT NOT NULL DEFAULT 'Open', CHECK (state IN ("Open", "Closed")));
