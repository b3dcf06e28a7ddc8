-- What the handheld app keeps beside the records, inside the same
-- (encrypted) database: its settings (the PIN's hash, wrong-PIN counts) and
-- the photos taken for cases, each until the server holds it.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE photos (
    -- SHA-256 of the bytes, lowercase hex: what a case's `attachments` lists.
    sha256 TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    added_at_ms INTEGER NOT NULL,
    -- When the server confirmed it holds the whole file; NULL until then.
    uploaded_at_ms INTEGER
) STRICT;
CREATE INDEX photos_to_upload ON photos(added_at_ms) WHERE uploaded_at_ms IS NULL;
