-- Records, one table per kind. Each row holds the record's current values,
-- one column per field (the winners of the field registers), and `meta`:
-- the rest of each field's register (its version vector, the winner's
-- writer and HLC, how many losers it keeps), a compact binary blob the store
-- encodes. `seq` is the server's change sequence of the record's last
-- change (0 on devices).
--
-- Columns are named after the fields of the domain schema; a test checks
-- that they match. Deleted records stay (deleted = 1): their registers are
-- needed to merge later changes.

CREATE TABLE grids (
    id BLOB NOT NULL UNIQUE,
    seq INTEGER NOT NULL DEFAULT 0,
    meta BLOB NOT NULL,
    deleted INTEGER,
    code TEXT,
    name TEXT,
    parent TEXT,
    level TEXT,
    chief TEXT,
    chief_phone TEXT,
    boundary TEXT
) STRICT;
CREATE INDEX grids_code ON grids(code);
CREATE INDEX grids_parent ON grids(parent) WHERE parent IS NOT NULL;

CREATE TABLE buildings (
    id BLOB NOT NULL UNIQUE,
    seq INTEGER NOT NULL DEFAULT 0,
    meta BLOB NOT NULL,
    deleted INTEGER,
    grid TEXT,
    address TEXT,
    name TEXT,
    floors INTEGER,
    units INTEGER,
    use TEXT,
    rental TEXT,
    risk TEXT,
    risk_notes TEXT,
    latitude REAL,
    longitude REAL
) STRICT;
CREATE INDEX buildings_grid ON buildings(grid);

CREATE TABLE households (
    id BLOB NOT NULL UNIQUE,
    seq INTEGER NOT NULL DEFAULT 0,
    meta BLOB NOT NULL,
    deleted INTEGER,
    grid TEXT,
    address TEXT,
    building BLOB,
    room TEXT,
    head TEXT,
    phone TEXT,
    household_type TEXT,
    tags TEXT,
    notes TEXT
) STRICT;
CREATE INDEX households_grid ON households(grid);
CREATE INDEX households_building ON households(building) WHERE building IS NOT NULL;

CREATE TABLE residents (
    id BLOB NOT NULL UNIQUE,
    seq INTEGER NOT NULL DEFAULT 0,
    meta BLOB NOT NULL,
    deleted INTEGER,
    grid TEXT,
    name TEXT,
    id_number TEXT,
    sex TEXT,
    birth_date TEXT,
    phone TEXT,
    household BLOB,
    building BLOB,
    room TEXT,
    residence_type TEXT,
    tags TEXT,
    notes TEXT
) STRICT;
CREATE INDEX residents_grid ON residents(grid);
CREATE INDEX residents_name ON residents(name);
CREATE INDEX residents_id_number ON residents(id_number) WHERE id_number IS NOT NULL;
CREATE INDEX residents_phone ON residents(phone) WHERE phone IS NOT NULL;
CREATE INDEX residents_household ON residents(household) WHERE household IS NOT NULL;
CREATE INDEX residents_building ON residents(building) WHERE building IS NOT NULL;

CREATE TABLE patrols (
    id BLOB NOT NULL UNIQUE,
    seq INTEGER NOT NULL DEFAULT 0,
    meta BLOB NOT NULL,
    deleted INTEGER,
    grid TEXT,
    worker TEXT,
    started_at TEXT,
    ended_at TEXT,
    route TEXT,
    items TEXT,
    findings TEXT
) STRICT;
CREATE INDEX patrols_grid ON patrols(grid, started_at);

CREATE TABLE visits (
    id BLOB NOT NULL UNIQUE,
    seq INTEGER NOT NULL DEFAULT 0,
    meta BLOB NOT NULL,
    deleted INTEGER,
    grid TEXT,
    household BLOB,
    resident BLOB,
    visited_at TEXT,
    purpose TEXT,
    worker TEXT,
    notes TEXT,
    follow_up TEXT,
    follow_up_due TEXT
) STRICT;
CREATE INDEX visits_grid ON visits(grid, visited_at);
CREATE INDEX visits_household ON visits(household) WHERE household IS NOT NULL;
CREATE INDEX visits_resident ON visits(resident) WHERE resident IS NOT NULL;

CREATE TABLE cases (
    id BLOB NOT NULL UNIQUE,
    seq INTEGER NOT NULL DEFAULT 0,
    meta BLOB NOT NULL,
    deleted INTEGER,
    grid TEXT,
    category TEXT,
    description TEXT,
    status TEXT,
    urgency TEXT,
    location TEXT,
    latitude REAL,
    longitude REAL,
    reporter TEXT,
    reporter_phone TEXT,
    reported_at TEXT,
    attachments TEXT,
    resident BLOB,
    building BLOB,
    department TEXT,
    deadline TEXT,
    handled_in_grid INTEGER,
    result TEXT
) STRICT;
CREATE INDEX cases_grid_status ON cases(grid, status);
CREATE INDEX cases_status_deadline ON cases(status, deadline);

CREATE TABLE tasks (
    id BLOB NOT NULL UNIQUE,
    seq INTEGER NOT NULL DEFAULT 0,
    meta BLOB NOT NULL,
    deleted INTEGER,
    grid TEXT,
    title TEXT,
    description TEXT,
    task_type TEXT,
    assignee TEXT,
    due TEXT,
    status TEXT
) STRICT;
CREATE INDEX tasks_grid_status ON tasks(grid, status);

-- Concurrent losers: versions of a field that nobody had seen when a later
-- write won, kept for the centre to review until a write that has seen them
-- settles the field. One row per writer and record holds that writer's
-- losing versions of the record's fields (field tag, HLC, value), a blob the
-- store encodes. The record's meta counts each field's losers and holds the
-- field's context, whose entry for the writer is the loser's counter.
--
-- Keyed by writer first: the losers one device's batch leaves fall side by
-- side, so a batch writes few pages however many conflicts the store keeps.
-- Every lookup knows the writer (from the field's context).
CREATE TABLE losers (
    writer INTEGER NOT NULL,
    record BLOB NOT NULL,
    entries BLOB NOT NULL,
    PRIMARY KEY (writer, record)
) STRICT, WITHOUT ROWID;

-- The fields that have losers, for the review list.
CREATE TABLE conflicts (
    record BLOB NOT NULL,
    tag INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    PRIMARY KEY (record, tag)
) STRICT, WITHOUT ROWID;

-- This replica's clock and counters: one row.
CREATE TABLE replica (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    -- The writer number version vectors use; NULL until a device is enrolled.
    device INTEGER,
    -- The hybrid logical clock: the latest timestamp written or seen.
    hlc INTEGER NOT NULL DEFAULT 0,
    -- Local edits made (a device's change counter).
    counter INTEGER NOT NULL DEFAULT 0,
    -- Records changed (the server's change sequence).
    seq INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO replica (singleton) VALUES (1);
