-- What pulls need: the records changed after a cursor, across all records
-- (seq) and within a grid (grid, seq).
CREATE INDEX grids_seq ON grids(seq);
CREATE INDEX grids_code_seq ON grids(code, seq);
CREATE INDEX buildings_seq ON buildings(seq);
CREATE INDEX buildings_grid_seq ON buildings(grid, seq);
CREATE INDEX households_seq ON households(seq);
CREATE INDEX households_grid_seq ON households(grid, seq);
CREATE INDEX residents_seq ON residents(seq);
CREATE INDEX residents_grid_seq ON residents(grid, seq);
CREATE INDEX patrols_seq ON patrols(seq);
CREATE INDEX patrols_grid_seq ON patrols(grid, seq);
CREATE INDEX visits_seq ON visits(seq);
CREATE INDEX visits_grid_seq ON visits(grid, seq);
CREATE INDEX cases_seq ON cases(seq);
CREATE INDEX cases_grid_seq ON cases(grid, seq);
CREATE INDEX tasks_seq ON tasks(seq);
CREATE INDEX tasks_grid_seq ON tasks(grid, seq);
