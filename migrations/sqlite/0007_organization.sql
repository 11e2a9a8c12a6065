-- The organization as the engine last read it (departments and member accounts, as JSON), the
-- snapshot the assignment rules are resolved against. One row. A refresh that would remove
-- more assignments than the destructive-change fuse allows is kept aside in held_doc, not
-- applied, until an operator releases it; a refresh that fails leaves doc as it was and
-- records its error.
CREATE TABLE organization_snapshot (
    id         INTEGER PRIMARY KEY,
    doc        TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    held_doc   TEXT,
    held_note  TEXT,
    error      TEXT,
    error_at   TEXT
);
