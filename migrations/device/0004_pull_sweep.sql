-- A pull that starts over from 0 because the device fell too far behind
-- (the server says `resync`) notes every record it receives; when it ends,
-- the records it holds that did not come back have left its grids and go.
ALTER TABLE session ADD COLUMN sweeping INTEGER NOT NULL DEFAULT 0;
CREATE TABLE pull_seen (record BLOB PRIMARY KEY) STRICT, WITHOUT ROWID;
