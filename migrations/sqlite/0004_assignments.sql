-- Role assignments cic-bridge manages, and the asynchronous tasks it started.

-- (group, role configuration, account) assignments created from [[assignments]] rules. Only
-- these are removed when a rule stops applying; assignments made by hand are left alone.
CREATE TABLE cic_assignments (
    tenant                TEXT    NOT NULL,
    scim_group            TEXT    NOT NULL,
    role_configuration_id TEXT    NOT NULL,
    target_uin            INTEGER NOT NULL,
    created_at            TEXT    NOT NULL,
    PRIMARY KEY (tenant, scim_group, role_configuration_id, target_uin)
);

-- Every task id Identity Center returned, persisted in the transaction that records the
-- call's outcome: a task id is the only handle on work in progress.
CREATE TABLE cic_tasks (
    tenant                TEXT    NOT NULL,
    task_id               TEXT    NOT NULL,
    task_type             TEXT    NOT NULL,
    scim_group            TEXT,
    role_configuration_id TEXT    NOT NULL,
    target_uin            INTEGER NOT NULL,
    status                TEXT    NOT NULL,
    failure_reason        TEXT,
    polls                 INTEGER NOT NULL DEFAULT 0,
    created_at            TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL,
    PRIMARY KEY (tenant, task_id)
);
CREATE INDEX cic_tasks_group ON cic_tasks (tenant, scim_group, status);
CREATE INDEX cic_tasks_target ON cic_tasks (tenant, role_configuration_id, target_uin, status);
