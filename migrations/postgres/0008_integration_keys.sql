-- See `migrations/server/0018_integration_keys.sql`.
CREATE TABLE integration_keys (
    id text PRIMARY KEY,
    name text NOT NULL,
    hash bytea NOT NULL UNIQUE,
    grid text,
    created_at_ms bigint NOT NULL,
    created_by text NOT NULL,
    revoked_at_ms bigint
);

CREATE INDEX case_flow_by_category ON case_flow (category, received_at_ms DESC, case_id);
