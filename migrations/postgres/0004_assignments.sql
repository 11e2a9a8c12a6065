-- Role assignments cic-bridge manages, and the asynchronous tasks it started (see
-- migrations/sqlite/0004_assignments.sql).

CREATE TABLE cic_assignments (
    tenant                TEXT COLLATE "C" NOT NULL,
    scim_group            TEXT COLLATE "C" NOT NULL,
    role_configuration_id TEXT COLLATE "C" NOT NULL,
    target_uin            BIGINT NOT NULL,
    created_at            TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, scim_group, role_configuration_id, target_uin)
);

CREATE TABLE cic_tasks (
    tenant                TEXT COLLATE "C" NOT NULL,
    task_id               TEXT COLLATE "C" NOT NULL,
    task_type             TEXT NOT NULL,
    scim_group            TEXT COLLATE "C",
    role_configuration_id TEXT COLLATE "C" NOT NULL,
    target_uin            BIGINT NOT NULL,
    status                TEXT COLLATE "C" NOT NULL,
    failure_reason        TEXT,
    polls                 BIGINT NOT NULL DEFAULT 0,
    created_at            TEXT COLLATE "C" NOT NULL,
    updated_at            TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, task_id)
);
CREATE INDEX cic_tasks_group ON cic_tasks (tenant, scim_group, status);
CREATE INDEX cic_tasks_target ON cic_tasks (tenant, role_configuration_id, target_uin, status);
