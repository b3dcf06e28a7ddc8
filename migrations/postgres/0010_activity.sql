-- Patrols and visits by grid and day, for the console's day view and the
-- map's routes (docs/registry.md): a live patrol's or visit's grid, its
-- time as written (a patrol's `started_at`, a visit's `visited_at`) and
-- the worker it names, beside the record's body. Written with the record
-- (`save` in server/src/postgres.rs); a deleted one, or one without a grid
-- or a time, has no row. Filled from the bodies when this migration runs
-- (`backfill` in server/src/postgres.rs).
CREATE TABLE activity (
    id bytea PRIMARY KEY,
    kind smallint NOT NULL,
    grid text NOT NULL,
    at text NOT NULL,
    worker text
);
-- A grid's day is a range of (kind, grid, at), compared byte-wise as
-- RFC 3339 text sorts.
CREATE INDEX activity_by_grid ON activity (kind, grid, at COLLATE "C");
