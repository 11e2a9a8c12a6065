-- One row per replica rewritten by the store's write probe: while the store cannot commit
-- (PostgreSQL down, restarting, out of disk), each replica tries this one-row write every
-- second to learn that it can again, without waiting for a client's write.
CREATE TABLE store_probe (
    id TEXT COLLATE "C" PRIMARY KEY,
    at TEXT COLLATE "C" NOT NULL
);
