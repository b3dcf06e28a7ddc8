-- See `migrations/server/0015_guesses.sql`.
CREATE TABLE guesses (
    what text NOT NULL,
    address text NOT NULL,
    at_ms bigint NOT NULL
);
CREATE INDEX guesses_by_address ON guesses (what, address, at_ms);
CREATE INDEX guesses_by_time ON guesses (at_ms);
