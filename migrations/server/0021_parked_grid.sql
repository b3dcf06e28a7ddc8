-- Parked refusals get the grid they belong to, so that staff given part of
-- the grid tree review the refusals of their part: the grid the record is
-- in on the server when it is refused, or else the existing grid the
-- refused change names. Rows parked before this have none and are
-- reviewed city-wide.
--
-- And their ids are never given again (AUTOINCREMENT): the centre acts on
-- a refusal by its id, and an id reused after a dismissal would make an
-- apply write what was reviewed to another record. SQLite cannot add
-- AUTOINCREMENT to a table, so the table is made again.
CREATE TABLE parked_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    record BLOB NOT NULL,
    kind INTEGER NOT NULL,
    code TEXT NOT NULL,
    field TEXT,
    message TEXT NOT NULL,
    -- The refused record changes, JSON, or a summary of them.
    payload TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,
    grid TEXT
) STRICT;
INSERT INTO parked_new (id, at_ms, device_id, record, kind, code, field, message, payload, bytes)
    SELECT id, at_ms, device_id, record, kind, code, field, message, payload, bytes FROM parked;
DROP TABLE parked;
ALTER TABLE parked_new RENAME TO parked;
CREATE UNIQUE INDEX parked_device_record ON parked(device_id, record);
CREATE INDEX parked_grid ON parked(grid, id);
-- A record's refusals follow it when it moves to another grid.
CREATE INDEX parked_record ON parked(record);
