-- Description: step 1
CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT, status TEXT, archived INTEGER, n INTEGER); CREATE UNIQUE INDEX u ON p(code) WHERE status = 'on and off' AND archived = 0;
