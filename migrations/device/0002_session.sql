-- The device's enrollment and sync state: one row once enrolled.
CREATE TABLE session (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    server TEXT NOT NULL,
    device_id TEXT NOT NULL,
    token TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    -- The server's epoch when last seen; a new one means it was restored.
    epoch TEXT NOT NULL,
    -- The server sequence pulled up to.
    cursor INTEGER NOT NULL DEFAULT 0,
    -- The grids this device may see, as the server last sent them.
    scope TEXT NOT NULL DEFAULT '[]',
    scope_hash TEXT NOT NULL DEFAULT '',
    -- Server clock minus device clock, in ms, from the last answer.
    clock_offset_ms INTEGER NOT NULL DEFAULT 0,
    enrolled_at_ms INTEGER NOT NULL,
    last_sync_ms INTEGER
) STRICT;

-- Edits the server refused: rolled back here, kept so the worker can see
-- what was refused and why, with the record as it stood on the device.
CREATE TABLE refused (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    record TEXT NOT NULL,
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    field TEXT,
    message TEXT NOT NULL,
    message_zh TEXT NOT NULL,
    local TEXT
) STRICT;
