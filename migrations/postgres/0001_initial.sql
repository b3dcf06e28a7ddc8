-- The server's database on PostgreSQL: the same content as the embedded
-- SQLite sets (`migrations/common`, `migrations/server`), laid out for a
-- database several server nodes share. Records keep their registers as one
-- postcard blob per record (`body`: field tag, the sequence of the field's
-- last change, the register with every version), beside the columns the
-- server looks them up by.

CREATE TABLE server_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);

-- The server's change sequence and its hybrid logical clock: one row,
-- changed only under the writer lock (see `server/src/postgres.rs`).
CREATE TABLE replica (
    one integer PRIMARY KEY CHECK (one = 1),
    seq bigint NOT NULL,
    hlc bigint NOT NULL
);
INSERT INTO replica (one, seq, hlc) VALUES (1, 0, 0);

CREATE TABLE records (
    id bytea PRIMARY KEY,
    kind smallint NOT NULL,
    -- The scope field's winning value: a record's grid, a grid's code.
    grid text,
    deleted boolean NOT NULL DEFAULT false,
    seq bigint NOT NULL,
    body bytea NOT NULL
);
CREATE INDEX records_seq ON records (seq);
CREATE INDEX records_grid_seq ON records (grid, seq) WHERE kind <> 0;
CREATE INDEX records_grids_seq ON records (seq) WHERE kind = 0;
CREATE INDEX records_deleted ON records (seq) WHERE deleted;

-- The grid tree, from the winning values of grid records.
CREATE TABLE grids (
    id bytea PRIMARY KEY,
    code text NOT NULL,
    parent text,
    level text,
    deleted boolean NOT NULL
);
CREATE INDEX grids_code ON grids (code);
CREATE INDEX grids_parent ON grids (parent);

CREATE TABLE moves (
    seq bigint NOT NULL,
    record bytea NOT NULL,
    kind smallint NOT NULL,
    old_grid text NOT NULL,
    new_grid text,
    PRIMARY KEY (seq, record)
);

CREATE TABLE conflicts (
    record bytea NOT NULL,
    tag smallint NOT NULL,
    kind smallint NOT NULL,
    PRIMARY KEY (record, tag)
);

CREATE TABLE case_photos (
    sha256 text NOT NULL,
    record bytea NOT NULL,
    grid text NOT NULL,
    PRIMARY KEY (sha256, grid, record)
);
CREATE INDEX case_photos_record ON case_photos (record);

CREATE TABLE users (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    role text NOT NULL CHECK (role IN ('admin', 'staff', 'worker')),
    password_hash text,
    created_at_ms bigint NOT NULL
);

CREATE TABLE user_grids (
    user_id text NOT NULL REFERENCES users (id),
    grid text NOT NULL,
    PRIMARY KEY (user_id, grid)
);

CREATE TABLE tokens (
    hash bytea PRIMARY KEY,
    user_id text NOT NULL REFERENCES users (id),
    device_id text,
    created_at_ms bigint NOT NULL,
    expires_at_ms bigint,
    revoked_at_ms bigint
);
CREATE INDEX tokens_device ON tokens (device_id) WHERE device_id IS NOT NULL;
CREATE INDEX tokens_sessions ON tokens (user_id, created_at_ms) WHERE device_id IS NULL AND expires_at_ms IS NOT NULL;
CREATE INDEX tokens_session_end ON tokens (expires_at_ms) WHERE device_id IS NULL AND expires_at_ms IS NOT NULL;

CREATE TABLE enrollment_codes (
    hash bytea PRIMARY KEY,
    user_id text NOT NULL REFERENCES users (id),
    created_at_ms bigint NOT NULL,
    expires_at_ms bigint NOT NULL,
    used_at_ms bigint,
    device_id text,
    request_hash bytea
);

CREATE TABLE devices (
    id text PRIMARY KEY,
    number integer NOT NULL UNIQUE,
    user_id text NOT NULL REFERENCES users (id),
    app_version text NOT NULL,
    enrolled_at_ms bigint NOT NULL,
    last_seen_ms bigint,
    last_sync_ms bigint,
    pending bigint NOT NULL DEFAULT 0,
    acked_counter bigint NOT NULL DEFAULT 0,
    revoked_at_ms bigint
);

CREATE TABLE parked (
    id bigserial PRIMARY KEY,
    at_ms bigint NOT NULL,
    device_id text NOT NULL,
    record bytea NOT NULL,
    kind smallint NOT NULL,
    code text NOT NULL,
    field text,
    message text NOT NULL,
    payload text NOT NULL,
    bytes bigint NOT NULL,
    UNIQUE (device_id, record)
);

CREATE TABLE parked_overflow (
    device_id text NOT NULL,
    code text NOT NULL,
    count bigint NOT NULL,
    first_at_ms bigint NOT NULL,
    last_at_ms bigint NOT NULL,
    PRIMARY KEY (device_id, code)
);

CREATE TABLE audit (
    id bigserial PRIMARY KEY,
    at_ms bigint NOT NULL,
    user_id text,
    device_id text,
    action text NOT NULL,
    record bytea,
    kind smallint,
    detail text NOT NULL
);
CREATE INDEX audit_record ON audit (record) WHERE record IS NOT NULL;

CREATE TABLE attachments (
    sha256 text PRIMARY KEY,
    size bigint NOT NULL,
    uploaded_by text,
    created_at_ms bigint NOT NULL
);

CREATE TABLE attachment_uploads (
    sha256 text NOT NULL,
    uploader text NOT NULL,
    size bigint NOT NULL,
    received bigint NOT NULL DEFAULT 0,
    created_at_ms bigint NOT NULL,
    active_at_ms bigint NOT NULL,
    PRIMARY KEY (sha256, uploader)
);
CREATE INDEX attachment_uploads_uploader ON attachment_uploads (uploader);
CREATE INDEX attachment_uploads_active ON attachment_uploads (active_at_ms);

CREATE TABLE attachment_holders (
    sha256 text NOT NULL,
    holder text NOT NULL,
    at_ms bigint NOT NULL,
    PRIMARY KEY (sha256, holder)
);

CREATE TABLE device_usage (
    device_id text NOT NULL,
    day bigint NOT NULL,
    push_bytes bigint NOT NULL,
    upload_bytes bigint NOT NULL,
    PRIMARY KEY (device_id, day)
);

CREATE TABLE seq_marks (
    at_ms bigint PRIMARY KEY,
    seq bigint NOT NULL
);

-- See `migrations/server/0013_scope_generation.sql`.
CREATE TABLE scope_generation (
    one integer PRIMARY KEY CHECK (one = 1),
    value bigint NOT NULL
);
INSERT INTO scope_generation (one, value) VALUES (1, 1);

CREATE FUNCTION bump_scope_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE scope_generation SET value = value + 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER scope_grids AFTER INSERT OR UPDATE OR DELETE ON grids
    FOR EACH STATEMENT EXECUTE FUNCTION bump_scope_generation();
CREATE TRIGGER scope_assignments AFTER INSERT OR UPDATE OR DELETE ON user_grids
    FOR EACH STATEMENT EXECUTE FUNCTION bump_scope_generation();
CREATE TRIGGER scope_roles AFTER UPDATE OF role ON users
    FOR EACH STATEMENT EXECUTE FUNCTION bump_scope_generation();
