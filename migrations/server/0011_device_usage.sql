-- What each device sent each (UTC) day: the weight of the records it
-- pushed and the declared sizes of the uploads it started, against its
-- daily budget. Old days can be deleted at will.
CREATE TABLE device_usage (
    device_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    push_bytes INTEGER NOT NULL DEFAULT 0,
    upload_bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, day)
) STRICT, WITHOUT ROWID;
