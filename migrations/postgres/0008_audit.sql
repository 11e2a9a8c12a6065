-- The audit trail (issue 17): one row per change cic-bridge accepted (a SCIM write, one row per
-- member added or removed) or made (an Identity Center call that changes something, a task's
-- end, an admin action). Rows are written in the transaction of the change they record, without
-- a hash; the sealer then gives each, in the order it finds them, a position in the hash chain
-- (pos), the previous row's hash and its own. seq never repeats (a sequence), also after a
-- prune.
CREATE TABLE audit_log (
    seq        BIGSERIAL PRIMARY KEY,
    at         TEXT COLLATE "C" NOT NULL,
    tenant     TEXT NOT NULL,
    source     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    request_id TEXT,
    action     TEXT NOT NULL,
    user_id    TEXT,
    group_id   TEXT,
    account    BIGINT,
    detail     TEXT NOT NULL,
    pos        BIGINT UNIQUE,
    prev_hash  TEXT,
    hash       TEXT
);
-- Partial: most records name a user or a group, not both, and few an account; an index
-- entry for a NULL would only cost its write. Queries name the id alone (ids are unique
-- across tenants), so the tenant is not a key column.
CREATE INDEX audit_log_user ON audit_log (user_id, seq) WHERE user_id IS NOT NULL;
CREATE INDEX audit_log_group ON audit_log (group_id, seq) WHERE group_id IS NOT NULL;
CREATE INDEX audit_log_account ON audit_log (account, seq) WHERE account IS NOT NULL;
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_unsealed ON audit_log (seq) WHERE pos IS NULL;

-- The chain's head (the last sealed position and its hash) and where it starts after pruning
-- (the last pruned position and its hash, which the first kept row names as previous).
CREATE TABLE audit_chain (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    pos         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    pruned_pos  BIGINT NOT NULL,
    pruned_hash TEXT NOT NULL
);
INSERT INTO audit_chain (id, pos, hash, pruned_pos, pruned_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
        0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The audit record that queued each operation (its seq): the cause the engine's records of
-- the operation's calls name, so that a chain of causes can be followed through the trail.
ALTER TABLE operations ADD COLUMN cause BIGINT;
