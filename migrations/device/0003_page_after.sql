-- Where the pages of an unfinished pull have got to: the next page starts
-- after it, while fields are still chosen by `cursor` (what the device has
-- everything of). Equal to `cursor` between pulls.
ALTER TABLE session ADD COLUMN page_after INTEGER NOT NULL DEFAULT 0;
