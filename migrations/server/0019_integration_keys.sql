-- Integration keys: what a city system (a 12345 hotline, the city's
-- Open311 client) sends as `Authorization: Bearer` on `/open311/v2/…`
-- (docs/open311.md). An admin issues one, scoped like a staff account: to
-- the grid `grid` and every grid below it, or the whole city when NULL.
-- Only the SHA-256 digest of the secret is kept (it is 256 random bits, as
-- tokens are); revoked keys stay listed, with when.
CREATE TABLE integration_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    grid TEXT,
    created_at_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at_ms INTEGER
) STRICT;

-- Open311 filters cases by when the server received them, with a status
-- and category among several.
CREATE INDEX case_flow_by_category ON case_flow(category, received_at_ms DESC, case_id);
