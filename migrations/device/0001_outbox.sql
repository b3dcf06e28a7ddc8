-- Local edits not yet acknowledged by the server: one row per record, with
-- the counter of its latest edit and a bit per field tag edited since the
-- last acknowledgement. An acknowledgement "up to counter N" deletes the
-- rows with counter <= N, so the outbox never outgrows what is unsent.
CREATE TABLE outbox (
    record BLOB PRIMARY KEY,
    kind INTEGER NOT NULL,
    counter INTEGER NOT NULL,
    fields INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX outbox_counter ON outbox(counter);
