-- Uploads in progress belong to their uploader: nobody can claim a digest
-- with a wrong size ahead of its real owner, or write into another's
-- upload. `attachments` holds only files whose bytes were checked against
-- their digest; `attachment_holders` who proved they hold a file by
-- uploading all of it (they may read it back).
CREATE TABLE attachment_uploads (
    sha256 TEXT NOT NULL,
    uploader TEXT NOT NULL,
    size INTEGER NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (sha256, uploader)
) STRICT, WITHOUT ROWID;

CREATE TABLE attachment_holders (
    sha256 TEXT NOT NULL,
    holder TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (sha256, holder)
) STRICT, WITHOUT ROWID;

INSERT INTO attachment_holders (sha256, holder, at_ms)
    SELECT sha256, uploaded_by, created_at_ms FROM attachments WHERE complete = 1 AND uploaded_by IS NOT NULL;
-- Unfinished uploads start over (their partial files are named differently
-- now).
DELETE FROM attachments WHERE complete = 0;
