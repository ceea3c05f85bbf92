-- Description: step 1
CREATE TABLE d (id INTEGER PRIMARY KEY, doc TEXT CHECK (json_valid(doc) OR doc = ''));
