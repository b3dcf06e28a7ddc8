-- The server's own state: accounts, tokens, devices, enrollment codes,
-- refused changes, the audit trail, attachments.

CREATE TABLE server_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'staff', 'worker')),
    -- argon2id, for people who log in at the console; NULL for none.
    password_hash TEXT,
    created_at_ms INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_name ON users(name);

-- The grids a user is responsible for; they see these and every grid below.
CREATE TABLE user_grids (
    user_id TEXT NOT NULL REFERENCES users(id),
    grid TEXT NOT NULL,
    PRIMARY KEY (user_id, grid)
) STRICT, WITHOUT ROWID;

-- Bearer tokens, stored as SHA-256 digests (they are 256 random bits, so a
-- fast digest is enough; passwords use argon2).
CREATE TABLE tokens (
    hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    device_id TEXT,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
) STRICT;

-- One-time enrollment codes, stored as digests, short-lived.
CREATE TABLE enrollment_codes (
    hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    used_at_ms INTEGER,
    device_id TEXT
) STRICT;

-- The device registry. `number` is what the device writes with in version
-- vectors (0 is the server itself).
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    number INTEGER NOT NULL UNIQUE CHECK (number > 0),
    user_id TEXT NOT NULL REFERENCES users(id),
    app_version TEXT NOT NULL,
    enrolled_at_ms INTEGER NOT NULL,
    last_seen_ms INTEGER,
    last_sync_ms INTEGER,
    -- Records the device said were still waiting to be pushed.
    pending INTEGER NOT NULL DEFAULT 0,
    -- The device's edits up to this counter are applied (or parked).
    acked_counter INTEGER NOT NULL DEFAULT 0,
    revoked_at_ms INTEGER
) STRICT;

-- Changes the server refused, parked for the centre to see.
CREATE TABLE parked (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    record BLOB NOT NULL,
    kind INTEGER NOT NULL,
    code TEXT NOT NULL,
    field TEXT,
    message TEXT NOT NULL,
    -- The refused record changes, JSON.
    payload TEXT NOT NULL
) STRICT;

-- Who did what, when: every applied push, every admin action.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    user_id TEXT,
    device_id TEXT,
    action TEXT NOT NULL,
    record BLOB,
    kind INTEGER,
    detail TEXT
) STRICT;
CREATE INDEX audit_record ON audit(record) WHERE record IS NOT NULL;

-- Attachments (case photos), content-addressed; bytes live in files.
CREATE TABLE attachments (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,
    complete INTEGER NOT NULL DEFAULT 0,
    uploaded_by TEXT,
    created_at_ms INTEGER NOT NULL
) STRICT;
