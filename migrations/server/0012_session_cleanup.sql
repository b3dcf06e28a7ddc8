-- Console sessions are looked up by person (at most 20 live each) and
-- cleared when they end; device tokens and the admin token never expire.
CREATE INDEX tokens_sessions ON tokens(user_id, created_at_ms) WHERE device_id IS NULL AND expires_at_ms IS NOT NULL;
CREATE INDEX tokens_session_end ON tokens(expires_at_ms) WHERE device_id IS NULL AND expires_at_ms IS NOT NULL;
