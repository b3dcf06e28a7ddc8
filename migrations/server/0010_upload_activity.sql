-- When an unfinished upload last received bytes: uploads left alone longer
-- than the server's expiry are removed, file and row.
ALTER TABLE attachment_uploads ADD COLUMN active_at_ms INTEGER NOT NULL DEFAULT 0;
UPDATE attachment_uploads SET active_at_ms = created_at_ms;
CREATE INDEX attachment_uploads_uploader ON attachment_uploads(uploader);
CREATE INDEX attachment_uploads_active ON attachment_uploads(active_at_ms);
