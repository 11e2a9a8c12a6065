-- One row per process rewritten by the store's write probe: while the store cannot commit (disk full,
-- read-only, locked), the daemon tries this one-row write every second to learn that it can
-- again, without waiting for a client's write.
CREATE TABLE store_probe (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
