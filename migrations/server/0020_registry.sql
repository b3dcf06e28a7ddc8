-- The registry the console reviews (docs/registry.md): residents,
-- households and buildings listed by grid in the order of (grid, id),
-- filtered by residence type or special-group tag, searched by prefix.
-- Every list walks one of these indexes, one grid at a time, so a page
-- reads about as many rows as it shows, whatever the city's size.

CREATE INDEX residents_grid_id ON residents(grid, id);
CREATE INDEX households_grid_id ON households(grid, id);
CREATE INDEX buildings_grid_id ON buildings(grid, id);
CREATE INDEX residents_residence ON residents(residence_type, grid, id) WHERE residence_type IS NOT NULL;

-- Search by prefix (residents are searched by name, ID number and phone
-- through the indexes of migrations/common/0001).
CREATE INDEX households_head ON households(head) WHERE head IS NOT NULL;
CREATE INDEX households_address ON households(address) WHERE address IS NOT NULL;
CREATE INDEX households_phone ON households(phone) WHERE phone IS NOT NULL;
CREATE INDEX buildings_name ON buildings(name) WHERE name IS NOT NULL;
CREATE INDEX buildings_address ON buildings(address) WHERE address IS NOT NULL;

-- Which live resident or household holds which special-group tag, in
-- which grid: the tag filter reads this instead of every record's list.
-- Kept by the server's backend from the winning values after each batch
-- it merges or record it writes (`retag` in server/src/sqlite.rs), two
-- statements per batch: triggers would make every row's insert a
-- statement with its own sub-journal, which inside the merge's savepoint
-- costs time growing with the batch.
CREATE TABLE record_tags (
    kind TEXT NOT NULL,
    tag TEXT NOT NULL,
    grid TEXT NOT NULL,
    id BLOB NOT NULL,
    PRIMARY KEY (kind, tag, grid, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX record_tags_id ON record_tags(id);

INSERT OR IGNORE INTO record_tags (kind, tag, grid, id)
    SELECT 'resident', t.value, r.grid, r.id FROM residents r, json_each(r.tags) t
    WHERE r.deleted IS NOT 1 AND r.grid IS NOT NULL AND r.tags IS NOT NULL;
INSERT OR IGNORE INTO record_tags (kind, tag, grid, id)
    SELECT 'household', t.value, h.grid, h.id FROM households h, json_each(h.tags) t
    WHERE h.deleted IS NOT 1 AND h.grid IS NOT NULL AND h.tags IS NOT NULL;
