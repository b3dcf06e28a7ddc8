-- Records whose grid changed, at the sequence of the change: a device whose
-- scope held the old grid and not the new one drops the record.
CREATE TABLE moves (
    seq INTEGER NOT NULL,
    record BLOB NOT NULL,
    kind INTEGER NOT NULL,
    old_grid TEXT NOT NULL,
    new_grid TEXT,
    PRIMARY KEY (seq, record)
) STRICT, WITHOUT ROWID;
