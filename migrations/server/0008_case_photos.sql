-- Which live cases list which photo, in which grid: what decides who may
-- read a photo, looked up by digest and grid instead of walking every
-- case's list.
-- Kept by triggers from the winning values of `cases`, so every writer
-- (pushes, the console) keeps it true without knowing of it.
CREATE TABLE case_photos (
    sha256 TEXT NOT NULL,
    record BLOB NOT NULL,
    grid TEXT NOT NULL,
    PRIMARY KEY (sha256, grid, record)
) STRICT, WITHOUT ROWID;
CREATE INDEX case_photos_record ON case_photos(record);

INSERT OR IGNORE INTO case_photos (sha256, record, grid)
    SELECT a.value, c.id, c.grid FROM cases c, json_each(c.attachments) a
    WHERE c.deleted IS NOT 1 AND c.grid IS NOT NULL AND c.attachments IS NOT NULL;

CREATE TRIGGER case_photos_insert AFTER INSERT ON cases
WHEN NEW.deleted IS NOT 1 AND NEW.grid IS NOT NULL AND NEW.attachments IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO case_photos (sha256, record, grid)
        SELECT value, NEW.id, NEW.grid FROM json_each(NEW.attachments);
END;

CREATE TRIGGER case_photos_update AFTER UPDATE OF attachments, grid, deleted ON cases
BEGIN
    DELETE FROM case_photos WHERE record = OLD.id;
    INSERT OR IGNORE INTO case_photos (sha256, record, grid)
        SELECT value, NEW.id, NEW.grid FROM json_each(NEW.attachments)
        WHERE NEW.deleted IS NOT 1 AND NEW.grid IS NOT NULL AND NEW.attachments IS NOT NULL;
END;
