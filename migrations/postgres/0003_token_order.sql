-- The order tokens were issued in, to tell which of a person's console
-- sessions is the newest when two began in the same millisecond (SQLite
-- uses its rowid for the same).
ALTER TABLE tokens ADD COLUMN issued bigserial;
