-- The grid a parked refusal belongs to, so that staff given part of the
-- grid tree review the refusals of their part: the grid the record is in
-- on the server when it is refused, or else the grid the refused change
-- names. Rows parked before this have none and are reviewed city-wide.
ALTER TABLE parked ADD COLUMN grid text;
CREATE INDEX parked_grid ON parked (grid, id);
-- A record's refusals follow it when it moves to another grid.
CREATE INDEX parked_record ON parked (record);
