//! The engine's store functions (see `ops.rs`), written once for both databases (see `sql.rs`).
//! Only the claim is per backend (PostgreSQL's `FOR UPDATE SKIP LOCKED` for several replicas,
//! SQLite's single writer), in `sqlite.rs` and `postgres.rs`.

use serde_json::Value;
use time::OffsetDateTime;

use super::ops::{
    Alarm, CicLink, Finish, LinkRow, OP_STATUS_COLUMNS, OpError, OpKind, OpStatus, QueueCount, TaskRow, TaskStatus,
    TenantSnapshot, Write, link_kind, ts,
};
use super::sql::stmt;
use super::writes::{apply_write, drop_resource, enqueue, enqueue_assign_syncs};
use super::{Store, StoreError, audit};
use crate::scim::schema::ResourceKind;

impl Store {
    /// Extends the lease of a running operation; false if the lease was lost.
    pub async fn renew_lease(&self, id: i64, owner: &str, until: OffsetDateTime) -> Result<bool, StoreError> {
        let r = stmt(
            "UPDATE operations SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(owner)
        .bind(ts(until))
        .execute(self.write())
        .await;
        self.observe(r.map(|n| n == 1), false)
    }

    /// Records the outcome of an attempt. False if this worker no longer holds the lease (it
    /// expired and another worker took the operation over); the outcome is then dropped.
    ///
    /// `writes` (links, tasks, managed assignments) are saved in the same transaction: what an
    /// attempt created or started is recorded with its outcome in one commit.
    pub async fn finish(
        &self,
        id: i64,
        owner: &str,
        finish: &Finish,
        now: OffsetDateTime,
        writes: &[Write],
    ) -> Result<bool, StoreError> {
        let r: Result<_, StoreError> = async {
            let now_s = ts(now);
            let (state, next, result, error, undo_attempt): (&str, String, Option<String>, Option<&OpError>, bool) =
                match finish {
                    Finish::Done { result } => ("done", now_s.clone(), Some(result.clone()), None, false),
                    Finish::Retry { at, error } => ("pending", ts(*at), None, Some(error), false),
                    Finish::Defer { at, note, .. } => ("pending", ts(*at), Some(note.clone()), None, true),
                    Finish::Failed { error } => ("failed", now_s.clone(), None, Some(error), false),
                    Finish::Parked { at, error } => ("parked", ts(*at), None, Some(error), false),
                    Finish::Held { note } => ("held", now_s.clone(), Some(note.clone()), None, true),
                };
            let finished = matches!(finish, Finish::Done { .. } | Finish::Failed { .. }).then(|| now_s.clone());
            let update = stmt(
                "UPDATE operations SET state = $3, next_attempt_at = $4, result = coalesce($5, result), \
                   last_error = CASE WHEN $6 IS NULL AND $3 = 'done' THEN NULL ELSE coalesce($6, last_error) END, \
                   error_code = CASE WHEN $6 IS NULL AND $3 = 'done' THEN NULL WHEN $6 IS NULL THEN error_code ELSE $7 END, \
                   error_request_id = CASE WHEN $6 IS NULL AND $3 = 'done' THEN NULL WHEN $6 IS NULL THEN error_request_id ELSE $8 END, \
                   attempts = attempts - $9, finished_at = $10, lease_owner = NULL, lease_expires_at = NULL, updated_at = $11, \
                   waiting_on_task = $12 \
                 WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
            )
            .bind(id)
            .bind(owner)
            .bind(state)
            .bind(next)
            .bind(result)
            .bind(error.map(|e| e.message.clone()))
            .bind(error.and_then(|e| e.code.clone()))
            .bind(error.and_then(|e| e.request_id.clone()))
            .bind(i64::from(undo_attempt))
            .bind(finished)
            .bind(&now_s)
            .bind(matches!(finish, Finish::Defer { on_task: true, .. }));
            let mut tx = self.begin().await?;
            if update.execute(tx.on()).await? != 1 {
                return Ok(false);
            }
            // The audit records first: the last one is the cause of what the other writes
            // queue (a group's member syncs after its CreateGroup).
            let (audit, rest): (Vec<&Write>, Vec<&Write>) = writes.iter().partition(|w| matches!(w, Write::Audit(_)));
            for w in audit.into_iter().chain(rest) {
                apply_write(&mut tx, w, &now_s).await?;
            }
            tx.commit().await?;
            Ok(true)
        }
        .await;
        self.observe(r, false)
    }

    /// Lets a destructive operation (deletion, deactivation) through the fuse if fewer than
    /// `limit` of the tenant's were let through since `since` or are held now; marks it so it
    /// counts. One statement, so concurrent workers cannot all slip under the limit together.
    pub async fn try_mark_destructive(
        &self,
        id: i64,
        tenant: &str,
        since: OffsetDateTime,
        limit: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let r = stmt(
            "UPDATE operations SET destructive_at = coalesce(destructive_at, $5) WHERE id = $1 AND (destructive_at IS NOT NULL OR \
               (SELECT count(*) FROM operations d WHERE d.tenant = $2 AND (d.destructive_at >= $3 OR d.state = 'held')) < $4)",
        )
        .bind(id)
        .bind(tenant)
        .bind(ts(since))
        .bind(limit)
        .bind(ts(now))
        .execute(self.write())
        .await;
        self.observe(r.map(|n| n == 1), false)
    }

    /// Destructive operations of `tenant` let through since `since`, plus those held now.
    pub async fn destructive_count(&self, tenant: &str, since: OffsetDateTime) -> Result<i64, StoreError> {
        let r = stmt("SELECT count(*) FROM operations WHERE tenant = $1 AND (destructive_at >= $2 OR state = 'held')")
            .bind(tenant)
            .bind(ts(since))
            .scalar(self.read())
            .await;
        self.observe(r, false)
    }

    /// Running operations whose lease expired go back to pending (their worker died), and
    /// parked ones whose capacity recheck is due are queued again.
    pub async fn reap_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let r: Result<_, StoreError> = async {
            let n = stmt(
                "UPDATE operations SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 \
                 WHERE state = 'running' AND lease_expires_at < $1",
            )
            .bind(ts(now))
            .execute(self.write())
            .await?;
            stmt("UPDATE operations SET state = 'pending', updated_at = $1 WHERE state = 'parked' AND next_attempt_at <= $1")
                .bind(ts(now))
                .execute(self.write())
                .await?;
            Ok(n)
        }
        .await;
        self.observe(r, false)
    }

    /// Hands back this worker's claims (graceful shutdown): they run again at once elsewhere.
    pub async fn release_claims(&self, owner: &str, now: OffsetDateTime) -> Result<u64, StoreError> {
        let sql = format!(
            "UPDATE operations SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
               attempts = {}, updated_at = $2 WHERE state = 'running' AND lease_owner = $1",
            self.dialect().greatest("attempts - 1", "0")
        );
        let r = stmt(sql).bind(owner).bind(ts(now)).execute(self.write()).await;
        self.observe(r, false)
    }

    pub async fn op_status(&self, id: i64) -> Result<Option<OpStatus>, StoreError> {
        let r = stmt(format!("SELECT {OP_STATUS_COLUMNS} FROM operations WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.read())
            .await;
        self.observe(r, false)
    }

    /// Operations by state (and tenant), newest first.
    pub async fn list_ops(
        &self,
        tenant: Option<&str>,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OpStatus>, StoreError> {
        let r = stmt(format!(
            "SELECT {OP_STATUS_COLUMNS} FROM operations WHERE ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR state = $2) \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(tenant)
        .bind(state)
        .bind(limit)
        .fetch_all(self.read())
        .await;
        self.observe(r, false)
    }

    /// (tenant, state, kind, count) over all operations.
    pub async fn op_counts(&self) -> Result<Vec<(String, String, String, i64)>, StoreError> {
        let r = stmt(
            "SELECT tenant, state, kind, count(*) FROM operations GROUP BY tenant, state, kind ORDER BY tenant, state, kind",
        )
        .fetch_all(self.read())
        .await;
        self.observe(r, false)
    }

    /// Puts a failed, parked or held operation (or all parked/held ones of a tenant) back in
    /// the queue, due now. Held ones are released from the fuse.
    pub async fn retry_ops(
        &self,
        id: Option<i64>,
        tenant: Option<&str>,
        states: &[&str],
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let sql = format!(
            "UPDATE operations SET fuse_released = CASE WHEN state = 'held' THEN TRUE ELSE fuse_released END, \
               state = 'pending', next_attempt_at = $4, attempts = 0, finished_at = NULL, updated_at = $4 \
             WHERE ($1 IS NULL OR id = $1) AND ($2 IS NULL OR tenant = $2) AND {}",
            self.dialect().in_list("state", 3)
        );
        let r: Result<u64, StoreError> = async {
            let now_s = ts(now);
            let mut tx = self.begin().await?;
            let n = stmt(sql)
                .bind(id)
                .bind(tenant)
                .bind(states)
                .bind(&now_s)
                .execute(tx.on())
                .await?;
            let detail = serde_json::json!({ "operation": id, "states": states, "requeued": n });
            if let Some(entry) = audit::operator_entry(tenant, "jobs.retry", detail) {
                audit::record(&mut tx, &[entry], &now_s).await?;
            }
            tx.commit().await?;
            Ok(n)
        }
        .await;
        self.observe(r, false)
    }

    /// Deletes finished operations older than `before` (failed ones stay until retried).
    pub async fn prune_done(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let r = stmt("DELETE FROM operations WHERE state = 'done' AND finished_at < $1")
            .bind(ts(before))
            .execute(self.write())
            .await;
        self.observe(r, false)
    }

    pub async fn link(&self, tenant: &str, kind: ResourceKind, scim_id: &str) -> Result<Option<CicLink>, StoreError> {
        let r: Result<_, StoreError> = async {
            let row: Option<(String, String, String)> =
                stmt("SELECT cic_id, cic_name, synced FROM cic_links WHERE tenant = $1 AND kind = $2 AND scim_id = $3")
                    .bind(tenant)
                    .bind(link_kind(kind))
                    .bind(scim_id)
                    .fetch_optional(self.read())
                    .await?;
            row.map(|(cic_id, cic_name, synced)| {
                Ok(CicLink {
                    cic_id,
                    cic_name,
                    synced: serde_json::from_str(&synced)?,
                })
            })
            .transpose()
        }
        .await;
        self.observe(r, false)
    }

    /// Whether an operation of `kind` on `resource_id` is queued or running (not one that
    /// ended, parked or held).
    pub async fn op_unfinished(&self, tenant: &str, kind: OpKind, resource_id: &str) -> Result<bool, StoreError> {
        let r = stmt(
            "SELECT count(*) FROM operations WHERE tenant = $1 AND resource_key = $2 AND kind = $3 \
               AND state IN ('pending', 'running')",
        )
        .bind(tenant)
        .bind(kind.key(resource_id, None))
        .bind(kind.as_str())
        .scalar::<i64>(self.read())
        .await;
        self.observe(r.map(|n| n > 0), false)
    }

    pub async fn links_count(&self, tenant: &str, kind: ResourceKind) -> Result<i64, StoreError> {
        let r = stmt("SELECT count(*) FROM cic_links WHERE tenant = $1 AND kind = $2")
            .bind(tenant)
            .bind(link_kind(kind))
            .scalar(self.read())
            .await;
        self.observe(r, false)
    }

    pub async fn is_member(&self, tenant: &str, group_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let r = stmt("SELECT count(*) FROM scim_group_members WHERE tenant = $1 AND group_id = $2 AND member_id = $3")
            .bind(tenant)
            .bind(group_id)
            .bind(user_id)
            .scalar::<i64>(self.read())
            .await;
        self.observe(r.map(|n| n > 0), false)
    }

    pub async fn resource_count(&self, tenant: &str, kind: ResourceKind) -> Result<i64, StoreError> {
        let sql = match kind {
            ResourceKind::User => "SELECT count(*) FROM scim_users WHERE tenant = $1",
            ResourceKind::Group => "SELECT count(*) FROM scim_groups WHERE tenant = $1",
        };
        let r = stmt(sql).bind(tenant).scalar(self.read()).await;
        self.observe(r, false)
    }

    /// Removes a SCIM resource whose Identity Center create was refused (a conflict under
    /// `on_conflict = "reject"`), with its memberships and queued operations, and records
    /// nothing for Identity Center: the resource never existed there.
    pub async fn rollback_create(
        &self,
        tenant: &str,
        kind: ResourceKind,
        scim_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let r: Result<_, StoreError> = async {
            let mut tx = self.begin().await?;
            drop_resource(&mut tx, tenant, kind, scim_id, &ts(now)).await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        self.observe(r, false)
    }

    /// Forgets every link of `tenant` and queues a sync of every user and group (the
    /// development emulator starts empty on every run).
    pub async fn resync_tenant(&self, tenant: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        let r: Result<_, StoreError> = async {
            let now_s = ts(now);
            let mut tx = self.begin().await?;
            stmt("DELETE FROM cic_links WHERE tenant = $1")
                .bind(tenant)
                .execute(tx.on())
                .await?;
            for (table, kind) in [("scim_users", ResourceKind::User), ("scim_groups", ResourceKind::Group)] {
                let ids: Vec<String> = stmt(format!("SELECT id FROM {table} WHERE tenant = $1 ORDER BY id"))
                    .bind(tenant)
                    .scalars(tx.on())
                    .await?;
                for id in ids {
                    enqueue(&mut tx, tenant, OpKind::sync(kind), &id, None, &Value::Null, &now_s).await?;
                }
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        self.observe(r, false)
    }

    pub async fn raise_alarm(
        &self,
        tenant: &str,
        code: &str,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let r = stmt(
            "INSERT INTO alarms (tenant, code, message, raised_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (tenant, code) DO UPDATE SET message = $3, updated_at = $4, count = alarms.count + 1, \
               raised_at = CASE WHEN alarms.cleared_at IS NULL THEN alarms.raised_at ELSE $4 END, cleared_at = NULL",
        )
        .bind(tenant)
        .bind(code)
        .bind(message)
        .bind(ts(now))
        .execute(self.write())
        .await;
        self.observe(r.map(drop), false)
    }

    pub async fn clear_alarm(&self, tenant: &str, code: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        let r = stmt(
            "UPDATE alarms SET cleared_at = $3, updated_at = $3 WHERE tenant = $1 AND code = $2 AND cleared_at IS NULL",
        )
        .bind(tenant)
        .bind(code)
        .bind(ts(now))
        .execute(self.write())
        .await;
        self.observe(r.map(drop), false)
    }

    /// Alarms currently raised.
    pub async fn alarms(&self) -> Result<Vec<Alarm>, StoreError> {
        let r = stmt(
            "SELECT tenant, code, message, raised_at, updated_at, count FROM alarms WHERE cleared_at IS NULL ORDER BY tenant, code",
        )
        .fetch_all(self.read())
        .await;
        self.observe(r, false)
    }

    /// The IdP is told to retry a create that met a full quota: if its operation is still
    /// parked and the resource never reached Identity Center, the operation ends and the
    /// resource goes, so the IdP's retry is a fresh create. False if the engine already
    /// resumed it (then the create stands).
    pub async fn abandon_parked_create(
        &self,
        op_id: i64,
        tenant: &str,
        kind: ResourceKind,
        scim_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let r: Result<_, StoreError> = async {
            let now_s = ts(now);
            let mut tx = self.begin().await?;
            let n = stmt(
                "UPDATE operations SET state = 'failed', finished_at = $2, updated_at = $2, \
                   result = 'the IdP was asked to retry (zone quota full); the resource was not kept' \
                 WHERE id = $1 AND state = 'parked' \
                   AND NOT EXISTS (SELECT 1 FROM cic_links l WHERE l.tenant = operations.tenant AND l.kind = $3 AND l.scim_id = operations.resource_id)",
            )
            .bind(op_id)
            .bind(&now_s)
            .bind(link_kind(kind))
            .execute(tx.on())
            .await?;
            if n == 0 {
                return Ok(false);
            }
            drop_resource(&mut tx, tenant, kind, scim_id, &now_s).await?;
            tx.commit().await?;
            Ok(true)
        }
        .await;
        self.observe(r, false)
    }

    /// Tasks of `tenant`, filtered by group, by (role configuration, account) and status.
    pub async fn tasks(
        &self,
        tenant: Option<&str>,
        scim_group: Option<&str>,
        target: Option<(&str, u64)>,
        status: Option<TaskStatus>,
        limit: i64,
    ) -> Result<Vec<TaskRow>, StoreError> {
        let r = stmt(format!(
            "SELECT {TASK_COLUMNS} FROM cic_tasks WHERE ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR scim_group = $2) \
             AND ($3 IS NULL OR role_configuration_id = $3) AND ($4 IS NULL OR target_uin = $4) \
             AND ($5 IS NULL OR status = $5) ORDER BY created_at DESC LIMIT $6"
        ))
        .bind(tenant)
        .bind(scim_group)
        .bind(target.map(|t| t.0))
        .bind(target.map(|t| i64::try_from(t.1).unwrap_or(i64::MAX)))
        .bind(status.map(TaskStatus::as_str))
        .bind(limit)
        .fetch_all(self.read())
        .await;
        self.observe(r, false)
    }

    /// The (role configuration, account) assignments cic-bridge made for a group.
    pub async fn managed_assignments(&self, tenant: &str, scim_group: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let r: Result<Vec<(String, i64)>, _> = stmt(
            "SELECT role_configuration_id, target_uin FROM cic_assignments WHERE tenant = $1 AND scim_group = $2 ORDER BY 1, 2",
        )
        .bind(tenant)
        .bind(scim_group)
        .fetch_all(self.read())
        .await;
        let r = r.map(|rows| {
            rows.into_iter()
                .map(|(rc, uin)| (rc, u64::try_from(uin).unwrap_or_default()))
                .collect()
        });
        self.observe(r, false)
    }

    /// Queues one operation (coalesced like a SCIM write's).
    pub async fn enqueue_op(
        &self,
        tenant: &str,
        kind: OpKind,
        resource_id: &str,
        related_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let r: Result<_, StoreError> = async {
            let now_s = ts(now);
            let mut tx = self.begin().await?;
            let detail = serde_json::json!({ "kind": kind.as_str(), "resource": resource_id, "related": related_id });
            if let Some(mut entry) = audit::operator_entry(Some(tenant), "operation.queue", detail) {
                entry.account = related_id.and_then(|r| r.parse().ok());
                audit::record(&mut tx, &[entry], &now_s).await?;
            }
            let id = enqueue(&mut tx, tenant, kind, resource_id, related_id, &Value::Null, &now_s).await?;
            tx.commit().await?;
            Ok(id)
        }
        .await;
        self.observe(r, false)
    }

    /// Queues an `assign.sync` for every group of `tenant` that exists in Identity Center.
    pub async fn enqueue_assign_all(&self, tenant: &str, now: OffsetDateTime) -> Result<u64, StoreError> {
        let r: Result<_, StoreError> = async {
            let now_s = ts(now);
            let mut tx = self.begin().await?;
            if let Some(entry) = audit::operator_entry(Some(tenant), "rules.apply", Value::Null) {
                audit::record(&mut tx, &[entry], &now_s).await?;
            }
            let queued = enqueue_assign_syncs(&mut tx, tenant, &now_s).await?;
            tx.commit().await?;
            Ok(queued)
        }
        .await;
        self.observe(r, false)
    }

    /// Everything stored for `tenant` (reconciliation, explain), read in one snapshot so that
    /// the parts agree with each other.
    pub async fn tenant_snapshot(&self, tenant: &str) -> Result<TenantSnapshot, StoreError> {
        let r: Result<_, StoreError> = async {
            let mut tx = self.begin_snapshot().await?;
            let d = tx.dialect();
            let users: Vec<(String, String)> = stmt(format!(
                "SELECT id, {} FROM scim_users WHERE tenant = $1 ORDER BY id",
                d.json_text("doc")
            ))
            .bind(tenant)
            .fetch_all(tx.on())
            .await?;
            let groups: Vec<(String, String)> = stmt(format!(
                "SELECT id, {} FROM scim_groups WHERE tenant = $1 ORDER BY id",
                d.json_text("doc")
            ))
            .bind(tenant)
            .fetch_all(tx.on())
            .await?;
            let links: Vec<LinkRow> = stmt(
                "SELECT kind, scim_id, cic_id, cic_name, synced FROM cic_links WHERE tenant = $1 ORDER BY kind, scim_id",
            )
            .bind(tenant)
            .fetch_all(tx.on())
            .await?;
            let members: Vec<(String, String)> = stmt(
                "SELECT group_id, member_id FROM scim_group_members WHERE tenant = $1 ORDER BY group_id, member_id",
            )
            .bind(tenant)
            .fetch_all(tx.on())
            .await?;
            let assignments: Vec<(String, String, i64)> = stmt(
                "SELECT scim_group, role_configuration_id, target_uin FROM cic_assignments WHERE tenant = $1 ORDER BY 1, 2, 3",
            )
            .bind(tenant)
            .fetch_all(tx.on())
            .await?;
            tx.rollback().await?;
            TenantSnapshot::from_rows(users, groups, links, members, assignments)
        }
        .await;
        self.observe(r, false)
    }

    /// Reconciliation's fixes: corrections of what the store believes Identity Center holds,
    /// and the operations that then repair it, in one transaction. Returns the operations
    /// queued (coalesced with any already queued).
    pub async fn apply_fixes(
        &self,
        tenant: &str,
        writes: &[Write],
        ops: &[(OpKind, String, Option<String>, Value)],
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let r: Result<_, StoreError> = async {
            let now_s = ts(now);
            let mut tx = self.begin().await?;
            let detail = serde_json::json!({ "records": writes.len(), "operations": ops.len() });
            if let Some(entry) = audit::operator_entry(Some(tenant), "reconcile.apply", detail) {
                audit::record(&mut tx, &[entry], &now_s).await?;
            }
            for w in writes {
                apply_write(&mut tx, w, &now_s).await?;
            }
            for (kind, resource, related, payload) in ops {
                enqueue(&mut tx, tenant, *kind, resource, related.as_deref(), payload, &now_s).await?;
            }
            tx.commit().await?;
            Ok(ops.len() as u64)
        }
        .await;
        self.observe(r, false)
    }

    /// Operations per (tenant, kind, bucket) and the oldest due `next_attempt_at` of each. The
    /// bucket is the state, with `pending` split into `waiting` (following a task), `due`
    /// (may run now) and `scheduled` (a retry or a deferral not yet due).
    pub async fn queue_overview(&self, now: OffsetDateTime) -> Result<Vec<QueueCount>, StoreError> {
        let r = stmt(super::ops::queue_overview_sql("$1"))
            .bind(ts(now))
            .fetch_all(self.read())
            .await;
        self.observe(r, false)
    }

    /// Group memberships held per tenant.
    pub async fn membership_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let r = stmt("SELECT tenant, count(*) FROM scim_group_members GROUP BY tenant")
            .fetch_all(self.read())
            .await;
        self.observe(r, false)
    }

    /// Versions of the embedded migrations that the database has not applied successfully.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let r: Result<Vec<i64>, _> = stmt("SELECT version FROM _sqlx_migrations WHERE success")
            .scalars(self.read())
            .await;
        let applied: std::collections::HashSet<i64> = self.observe(r, false)?.into_iter().collect();
        Ok(self
            .migrator()
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }
}

const TASK_COLUMNS: &str = "tenant, task_id, task_type, scim_group, role_configuration_id, target_uin, status, failure_reason, polls, created_at, updated_at";
