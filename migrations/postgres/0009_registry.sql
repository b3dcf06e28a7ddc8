-- The registry the console reviews (docs/registry.md): the winning values
-- a list, its filters and its search read, of every live resident,
-- household and building, beside the record's body (which holds its
-- registers as one blob). Written with the record, in the same statement
-- batch (`save` in server/src/postgres.rs); a deleted record has no row.
-- Filled from the bodies when this migration runs (`backfill` in server/src/postgres.rs).
CREATE TABLE registry (
    id bytea PRIMARY KEY,
    kind smallint NOT NULL,
    grid text NOT NULL,
    -- A resident's name, a household's head, a building's name.
    name text,
    -- A household's or a building's address.
    address text,
    id_number text,
    phone text,
    residence_type text
);
-- Lists walk (kind, grid, id); searches match prefixes byte-wise.
CREATE INDEX registry_by_grid ON registry (kind, grid, id);
CREATE INDEX registry_by_residence ON registry (kind, residence_type, grid, id) WHERE residence_type IS NOT NULL;
CREATE INDEX registry_name ON registry (kind, name COLLATE "C") WHERE name IS NOT NULL;
CREATE INDEX registry_address ON registry (kind, address COLLATE "C") WHERE address IS NOT NULL;
CREATE INDEX registry_id_number ON registry (kind, id_number COLLATE "C") WHERE id_number IS NOT NULL;
CREATE INDEX registry_phone ON registry (kind, phone COLLATE "C") WHERE phone IS NOT NULL;

-- Which live resident or household holds which special-group tag.
CREATE TABLE registry_tags (
    kind smallint NOT NULL,
    tag text NOT NULL,
    grid text NOT NULL,
    id bytea NOT NULL,
    PRIMARY KEY (kind, tag, grid, id)
);
CREATE INDEX registry_tags_id ON registry_tags (id);
