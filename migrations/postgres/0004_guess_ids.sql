-- A guess counted before it is tried is taken back by its id (SQLite's
-- rowid does the same there).
ALTER TABLE guesses ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX guesses_by_id ON guesses (id);
