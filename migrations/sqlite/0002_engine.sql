-- The provisioning engine: operation ordering and outcomes, links from SCIM resources to the
-- Identity Center objects that represent them, and alarms.

-- Operations on one resource key run one at a time, in id order. The key is `user:<id>`,
-- `group:<id>` or `member:<group id>:<user id>`.
ALTER TABLE operations ADD COLUMN resource_key TEXT NOT NULL DEFAULT '';
-- What the last attempt concluded (kept for done operations too: "adopted u-…", "superseded").
ALTER TABLE operations ADD COLUMN result TEXT;
-- Identity Center's error code and RequestId of the last failed attempt.
ALTER TABLE operations ADD COLUMN error_code TEXT;
ALTER TABLE operations ADD COLUMN error_request_id TEXT;
ALTER TABLE operations ADD COLUMN finished_at TEXT;
-- Set when an admin released an operation held by the destructive-change fuse.
ALTER TABLE operations ADD COLUMN fuse_released INTEGER NOT NULL DEFAULT 0;
-- When a destructive operation (delete, deactivation) was let through the fuse.
ALTER TABLE operations ADD COLUMN destructive_at TEXT;

-- Operations recorded before the engine existed used one kind per SCIM verb; the engine syncs
-- state instead, so they map onto the state-based kinds.
UPDATE operations SET kind = 'user.sync' WHERE kind IN ('user.create', 'user.update');
UPDATE operations SET kind = 'group.sync' WHERE kind IN ('group.create', 'group.update');
UPDATE operations SET kind = 'member.sync' WHERE kind IN ('member.add', 'member.remove');
UPDATE operations SET resource_key = 'user:' || resource_id WHERE kind LIKE 'user.%';
UPDATE operations SET resource_key = 'group:' || resource_id WHERE kind LIKE 'group.%';
UPDATE operations SET resource_key = 'member:' || resource_id || ':' || related_id WHERE kind = 'member.sync';

CREATE INDEX operations_key ON operations (tenant, resource_key, id);
CREATE INDEX operations_state ON operations (tenant, state);

-- The Identity Center object behind each SCIM user or group. Rows outlive the SCIM resource
-- until the Identity Center object is deleted. `synced` is the last state written to
-- Identity Center (JSON), so an update sends only what changed.
CREATE TABLE cic_links (
    tenant     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    scim_id    TEXT NOT NULL,
    cic_id     TEXT NOT NULL,
    cic_name   TEXT NOT NULL,
    synced     TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, scim_id)
);
CREATE UNIQUE INDEX cic_links_cic_id ON cic_links (tenant, kind, cic_id);

-- Conditions an admin must see: a full zone quota, a tripped fuse. One row per (tenant, code)
-- while raised; `cleared_at` is set when the condition goes away.
CREATE TABLE alarms (
    tenant     TEXT NOT NULL,
    code       TEXT NOT NULL,
    message    TEXT NOT NULL,
    raised_at  TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    count      INTEGER NOT NULL DEFAULT 1,
    cleared_at TEXT,
    PRIMARY KEY (tenant, code)
);
