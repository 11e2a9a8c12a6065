-- The provisioning engine: operation ordering and outcomes, links, alarms (see
-- migrations/sqlite/0002_engine.sql). No rows predate the engine on PostgreSQL, so the
-- verb-to-state mapping of the SQLite migration has nothing to convert here.

ALTER TABLE operations ADD COLUMN resource_key TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE operations ADD COLUMN result TEXT;
ALTER TABLE operations ADD COLUMN error_code TEXT;
ALTER TABLE operations ADD COLUMN error_request_id TEXT;
ALTER TABLE operations ADD COLUMN finished_at TEXT COLLATE "C";
ALTER TABLE operations ADD COLUMN fuse_released BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE operations ADD COLUMN destructive_at TEXT COLLATE "C";

CREATE INDEX operations_key ON operations (tenant, resource_key, id);
CREATE INDEX operations_state ON operations (tenant, state);

CREATE TABLE cic_links (
    tenant     TEXT COLLATE "C" NOT NULL,
    kind       TEXT COLLATE "C" NOT NULL,
    scim_id    TEXT COLLATE "C" NOT NULL,
    cic_id     TEXT COLLATE "C" NOT NULL,
    cic_name   TEXT NOT NULL,
    synced     TEXT NOT NULL DEFAULT '{}',
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, kind, scim_id)
);
CREATE UNIQUE INDEX cic_links_cic_id ON cic_links (tenant, kind, cic_id);

CREATE TABLE alarms (
    tenant     TEXT COLLATE "C" NOT NULL,
    code       TEXT COLLATE "C" NOT NULL,
    message    TEXT NOT NULL,
    raised_at  TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    count      BIGINT NOT NULL DEFAULT 1,
    cleared_at TEXT COLLATE "C",
    PRIMARY KEY (tenant, code)
);
