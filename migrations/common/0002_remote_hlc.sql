-- The latest HLC received from another replica, apart from this replica's
-- own: where the clock restarts from when a clock that ran ahead is
-- corrected (see the store's `restamp`).
ALTER TABLE replica ADD COLUMN remote_hlc INTEGER NOT NULL DEFAULT 0;
