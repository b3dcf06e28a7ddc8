-- What the server's change sequence had reached at a time, noted when the
-- horizon is worked on (hourly): how a horizon in days becomes a sequence
-- number below which `moves` and deleted records can go.
CREATE TABLE seq_marks (
    at_ms INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL
) STRICT;
-- Deleted records are found by the horizon's purge.
CREATE INDEX grids_deleted ON grids(seq) WHERE deleted = 1;
CREATE INDEX buildings_deleted ON buildings(seq) WHERE deleted = 1;
CREATE INDEX households_deleted ON households(seq) WHERE deleted = 1;
CREATE INDEX residents_deleted ON residents(seq) WHERE deleted = 1;
CREATE INDEX patrols_deleted ON patrols(seq) WHERE deleted = 1;
CREATE INDEX visits_deleted ON visits(seq) WHERE deleted = 1;
CREATE INDEX cases_deleted ON cases(seq) WHERE deleted = 1;
CREATE INDEX tasks_deleted ON tasks(seq) WHERE deleted = 1;
