-- SCIM resources, membership and the Identity Center outbox.
--
-- Timestamps are RFC 3339 UTC strings with a fixed number of fractional digits
-- (e.g. 2026-11-25T13:02:22.123456Z), so text order is time order.
-- `doc` holds the resource as JSON with canonical attribute names, without `id`, `meta`,
-- `password`, `members` (groups) and `groups` (users): those live in columns or tables.

CREATE TABLE scim_users (
    tenant          TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    user_name       TEXT    NOT NULL,
    -- Unicode lower case of user_name, computed by the application: SQLite's lower() only folds
    -- ASCII, and userName is case-insensitive (RFC 7643 §4.1.1).
    user_name_lower TEXT    NOT NULL,
    external_id     TEXT,
    display_name    TEXT,
    active          INTEGER NOT NULL,
    doc             TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    created         TEXT    NOT NULL,
    last_modified   TEXT    NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX scim_users_user_name ON scim_users (tenant, user_name_lower);
CREATE INDEX scim_users_external_id ON scim_users (tenant, external_id);

CREATE TABLE scim_groups (
    tenant             TEXT    NOT NULL,
    id                 TEXT    NOT NULL,
    display_name       TEXT    NOT NULL,
    display_name_lower TEXT    NOT NULL,
    external_id        TEXT,
    doc                TEXT    NOT NULL,
    version            INTEGER NOT NULL,
    created            TEXT    NOT NULL,
    last_modified      TEXT    NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX scim_groups_display_name ON scim_groups (tenant, display_name_lower);
CREATE INDEX scim_groups_external_id ON scim_groups (tenant, external_id);

-- Members are users of the same tenant. Deleting a user or a group removes its rows.
CREATE TABLE scim_group_members (
    tenant    TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (tenant, group_id, member_id),
    FOREIGN KEY (tenant, group_id) REFERENCES scim_groups (tenant, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant, member_id) REFERENCES scim_users (tenant, id) ON DELETE CASCADE
);
CREATE INDEX scim_group_members_member ON scim_group_members (tenant, member_id);

-- The outbox: Identity Center operations implied by SCIM writes, committed in the same
-- transaction as the write that implies them. The provisioning engine consumes it.
CREATE TABLE operations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant           TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    resource_id      TEXT    NOT NULL,
    related_id       TEXT,
    payload          TEXT    NOT NULL DEFAULT '{}',
    state            TEXT    NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL,
    lease_owner      TEXT,
    lease_expires_at TEXT,
    last_error       TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);
CREATE INDEX operations_due ON operations (state, next_attempt_at);
CREATE INDEX operations_resource ON operations (tenant, resource_id);
