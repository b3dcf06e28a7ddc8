-- The digest of the request id a device sent with the enrollment that used
-- a code, so that a retry of that same enrollment (its answer was lost) is
-- recognised and not refused as a reused code.
ALTER TABLE enrollment_codes ADD COLUMN request_hash BLOB;
