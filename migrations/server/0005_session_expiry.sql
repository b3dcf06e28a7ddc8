-- Console sessions end: a login's token works until `expires_at_ms` (NULL
-- for device tokens and the admin token `init` prints, which last until
-- revoked).
ALTER TABLE tokens ADD COLUMN expires_at_ms INTEGER;
