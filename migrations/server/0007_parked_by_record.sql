-- A replayed push parks a refusal only if it is not parked already: looked
-- up by device and record.
CREATE INDEX parked_device_record ON parked(device_id, record);
