-- Description: A language column, unique with the words (NULL from the trigger)
ALTER TABLE search ADD COLUMN lang TEXT;
CREATE UNIQUE INDEX search_lang ON search (lang, words);
