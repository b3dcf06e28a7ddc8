-- One parked refusal per device and record (the latest), its payload's
-- size kept beside it so what a device has parked is summed cheaply, and a
-- count, per device and refusal code, of the refusals beyond what one
-- device may park.
DELETE FROM parked WHERE id NOT IN (SELECT max(id) FROM parked GROUP BY device_id, record);
DROP INDEX parked_device_record;
CREATE UNIQUE INDEX parked_device_record ON parked(device_id, record);
ALTER TABLE parked ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
UPDATE parked SET bytes = length(CAST(payload AS BLOB));

CREATE TABLE parked_overflow (
    device_id TEXT NOT NULL,
    code TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_at_ms INTEGER NOT NULL,
    last_at_ms INTEGER NOT NULL,
    PRIMARY KEY (device_id, code)
) STRICT, WITHOUT ROWID;
