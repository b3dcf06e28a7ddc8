-- Wrong enrollment codes and passwords, per address, for the limit on
-- guessing: kept in the database so that every server node counts them
-- (see `server/src/guesses.rs`). Rows older than the window are removed as
-- new ones come.
CREATE TABLE guesses (
    what TEXT NOT NULL,
    address TEXT NOT NULL,
    at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX guesses_by_address ON guesses(what, address, at_ms);
CREATE INDEX guesses_by_time ON guesses(at_ms);
