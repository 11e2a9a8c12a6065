//! PostgreSQL side of the engine's store functions (see `ops.rs`).

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use super::ops::{
    Alarm, CicLink, Finish, OP_STATUS_COLUMNS, Op, OpError, OpKind, OpStatus, OpStatusTuple, QueueCount, TaskRow,
    TenantSnapshot, Write, link_kind, to_status, ts,
};
use super::postgres::{PgStore, enqueue, enqueue_members};
use super::{StoreError, now_string};
use crate::scim::schema::ResourceKind;

type OpTuple = (i64, String, String, String, Option<String>, String, i64, String, bool);

fn to_op(t: OpTuple) -> Result<Op, StoreError> {
    Ok(Op {
        id: t.0,
        tenant: t.1,
        kind: OpKind::parse(&t.2).ok_or_else(|| StoreError::Invalid(format!("unknown operation kind {}", t.2)))?,
        resource_id: t.3,
        related_id: t.4,
        payload: serde_json::from_str(&t.5)?,
        attempts: t.6,
        created_at: t.7,
        fuse_released: t.8,
    })
}

impl PgStore {
    /// Claims up to `limit` due operations of the `tenants` given, oldest first, skipping any
    /// whose key has an earlier operation still unfinished (pending, running, parked, held):
    /// operations on one resource run one at a time and in order.
    ///
    /// Several replicas (or workers) may claim at once: `FOR UPDATE SKIP LOCKED` makes each
    /// claimer pass over rows another is claiming instead of waiting for them, and a row
    /// claimed and committed meanwhile is re-checked against `state = 'pending'` under its row
    /// lock, so no operation is claimed twice. Unlike SQLite's single writer, ids here are
    /// drawn before commit, so an operation can become visible after a later one on its key
    /// has started; the claim therefore also skips a key with any operation running, which
    /// keeps "one at a time per key" whatever the commit order. (Writes to one resource lock
    /// its row first, so its own operations still get ids in commit order.)
    pub async fn claim(
        &self,
        owner: &str,
        tenants: &[String],
        now: OffsetDateTime,
        lease: Duration,
        limit: i64,
        exclude_kinds: &[&str],
    ) -> Result<Vec<Op>, StoreError> {
        let now_s = ts(now);
        let excluded: Vec<String> = exclude_kinds.iter().map(|k| (*k).to_owned()).collect();
        let until = ts(now + lease);
        let rows: Vec<OpTuple> = sqlx::query_as(
            "UPDATE operations SET state = 'running', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE state = 'pending' AND id IN (SELECT o.id FROM operations o \
               WHERE o.state = 'pending' AND o.next_attempt_at <= $3 \
                 AND o.tenant = ANY($4) \
                 AND o.kind <> ALL($6) \
                 AND NOT EXISTS (SELECT 1 FROM operations p WHERE p.tenant = o.tenant AND p.resource_key = o.resource_key \
                   AND p.id <> o.id AND (p.state = 'running' OR (p.id < o.id AND p.state IN ('pending', 'parked', 'held')))) \
               ORDER BY o.id LIMIT $5 FOR UPDATE SKIP LOCKED) \
             RETURNING id, tenant, kind, resource_id, related_id, payload, attempts, created_at, fuse_released",
        )
        .bind(owner)
        .bind(&until)
        .bind(&now_s)
        .bind(tenants)
        .bind(limit)
        .bind(&excluded)
        .fetch_all(&self.pool)
        .await?;
        let mut ops = rows.into_iter().map(to_op).collect::<Result<Vec<_>, _>>()?;
        ops.sort_by_key(|o| o.id);
        Ok(ops)
    }

    /// Extends the lease of a running operation; false if the lease was lost.
    pub async fn renew_lease(&self, id: i64, owner: &str, until: OffsetDateTime) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE operations SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(owner)
        .bind(ts(until))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Records the outcome of an attempt. False if this worker no longer holds the lease (it
    /// expired and another worker took the operation over); the outcome is then dropped.
    ///
    /// `writes` (links, tasks, managed assignments) are saved in the same transaction: what an
    /// attempt created or started is recorded with its outcome in one synced commit.
    pub async fn finish(
        &self,
        id: i64,
        owner: &str,
        finish: &Finish,
        now: OffsetDateTime,
        writes: &[Write],
    ) -> Result<bool, StoreError> {
        let now_s = ts(now);
        let (state, next, result, error, undo_attempt): (&str, String, Option<String>, Option<&OpError>, bool) =
            match finish {
                Finish::Done { result } => ("done", now_s.clone(), Some(result.clone()), None, false),
                Finish::Retry { at, error } => ("pending", ts(*at), None, Some(error), false),
                Finish::Defer { at, note } => ("pending", ts(*at), Some(note.clone()), None, true),
                Finish::Failed { error } => ("failed", now_s.clone(), None, Some(error), false),
                Finish::Parked { at, error } => ("parked", ts(*at), None, Some(error), false),
                Finish::Held { note } => ("held", now_s.clone(), Some(note.clone()), None, true),
            };
        let finished = matches!(finish, Finish::Done { .. } | Finish::Failed { .. }).then(|| now_s.clone());
        let n = sqlx::query(
            "UPDATE operations SET state = $3, next_attempt_at = $4, result = coalesce($5, result), \
               last_error = CASE WHEN $6 IS NULL AND $3 = 'done' THEN NULL ELSE coalesce($6, last_error) END, \
               error_code = CASE WHEN $6 IS NULL AND $3 = 'done' THEN NULL WHEN $6 IS NULL THEN error_code ELSE $7 END, \
               error_request_id = CASE WHEN $6 IS NULL AND $3 = 'done' THEN NULL WHEN $6 IS NULL THEN error_request_id ELSE $8 END, \
               attempts = attempts - $9, finished_at = $10, lease_owner = NULL, lease_expires_at = NULL, updated_at = $11 \
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
        .bind(&now_s);
        let mut tx = self.pool.begin().await?;
        let n = n.execute(&mut *tx).await?.rows_affected();
        if n != 1 {
            return Ok(false);
        }
        for w in writes {
            apply_write(&mut tx, w, &now_s).await?;
        }
        tx.commit().await?;
        Ok(true)
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
        let n = sqlx::query(
            "UPDATE operations SET destructive_at = coalesce(destructive_at, $5) WHERE id = $1 AND (destructive_at IS NOT NULL OR \
               (SELECT count(*) FROM operations d WHERE d.tenant = $2 AND (d.destructive_at >= $3 OR d.state = 'held')) < $4)",
        )
        .bind(id)
        .bind(tenant)
        .bind(ts(since))
        .bind(limit)
        .bind(ts(now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Destructive operations of `tenant` let through since `since`, plus those held now.
    pub async fn destructive_count(&self, tenant: &str, since: OffsetDateTime) -> Result<i64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM operations WHERE tenant = $1 AND (destructive_at >= $2 OR state = 'held')",
        )
        .bind(tenant)
        .bind(ts(since))
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// Running operations whose lease expired go back to pending (their worker died), and
    /// parked ones whose capacity recheck is due are queued again.
    pub async fn reap_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let n = sqlx::query(
            "UPDATE operations SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 \
             WHERE state = 'running' AND lease_expires_at < $1",
        )
        .bind(ts(now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE operations SET state = 'pending', updated_at = $1 WHERE state = 'parked' AND next_attempt_at <= $1",
        )
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(n)
    }

    /// Hands back this worker's claims (graceful shutdown): they run again at once elsewhere.
    pub async fn release_claims(&self, owner: &str) -> Result<u64, StoreError> {
        let now = now_string();
        let n = sqlx::query(
            "UPDATE operations SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
               attempts = greatest(attempts - 1, 0), updated_at = $2 WHERE state = 'running' AND lease_owner = $1",
        )
        .bind(owner)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n)
    }

    pub async fn op_status(&self, id: i64) -> Result<Option<OpStatus>, StoreError> {
        let sql = format!("SELECT {OP_STATUS_COLUMNS} FROM operations WHERE id = $1");
        let row: Option<OpStatusTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(to_status).transpose()
    }

    /// Operations by state (and tenant), newest first.
    pub async fn list_ops(
        &self,
        tenant: Option<&str>,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OpStatus>, StoreError> {
        let sql = format!(
            "SELECT {OP_STATUS_COLUMNS} FROM operations WHERE ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR state = $2) \
             ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<OpStatusTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(state)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(to_status).collect()
    }

    /// (tenant, state, kind, count) over all operations.
    pub async fn op_counts(&self) -> Result<Vec<(String, String, String, i64)>, StoreError> {
        let rows = sqlx::query_as(
            "SELECT tenant, state, kind, count(*) FROM operations GROUP BY tenant, state, kind ORDER BY tenant, state, kind",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
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
        let states: Vec<String> = states.iter().map(|s| (*s).to_string()).collect();
        let n = sqlx::query(
            "UPDATE operations SET fuse_released = CASE WHEN state = 'held' THEN TRUE ELSE fuse_released END, \
               state = 'pending', next_attempt_at = $4, attempts = 0, finished_at = NULL, updated_at = $4 \
             WHERE ($1 IS NULL OR id = $1) AND ($2 IS NULL OR tenant = $2) AND state = ANY($3)",
        )
        .bind(id)
        .bind(tenant)
        .bind(&states)
        .bind(ts(now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n)
    }

    /// Deletes finished operations older than `before` (failed ones stay until retried).
    pub async fn prune_done(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let n = sqlx::query("DELETE FROM operations WHERE state = 'done' AND finished_at < $1")
            .bind(ts(before))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n)
    }

    pub async fn link(&self, tenant: &str, kind: ResourceKind, scim_id: &str) -> Result<Option<CicLink>, StoreError> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT cic_id, cic_name, synced FROM cic_links WHERE tenant = $1 AND kind = $2 AND scim_id = $3",
        )
        .bind(tenant)
        .bind(link_kind(kind))
        .bind(scim_id)
        .fetch_optional(&self.pool)
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

    /// Whether an operation of `kind` on `resource_id` is queued or running (not one that
    /// ended, parked or held).
    pub async fn op_unfinished(&self, tenant: &str, kind: OpKind, resource_id: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM operations WHERE tenant = $1 AND resource_key = $2 AND kind = $3 \
               AND state IN ('pending', 'running')",
        )
        .bind(tenant)
        .bind(kind.key(resource_id, None))
        .bind(kind.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    pub async fn links_count(&self, tenant: &str, kind: ResourceKind) -> Result<i64, StoreError> {
        let n = sqlx::query_scalar("SELECT count(*) FROM cic_links WHERE tenant = $1 AND kind = $2")
            .bind(tenant)
            .bind(link_kind(kind))
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    pub async fn is_member(&self, tenant: &str, group_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM scim_group_members WHERE tenant = $1 AND group_id = $2 AND member_id = $3",
        )
        .bind(tenant)
        .bind(group_id)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    pub async fn resource_count(&self, tenant: &str, kind: ResourceKind) -> Result<i64, StoreError> {
        let sql = match kind {
            ResourceKind::User => "SELECT count(*) FROM scim_users WHERE tenant = $1",
            ResourceKind::Group => "SELECT count(*) FROM scim_groups WHERE tenant = $1",
        };
        let n = sqlx::query_scalar(sql).bind(tenant).fetch_one(&self.pool).await?;
        Ok(n)
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
        let mut tx = self.pool.begin().await?;
        drop_resource(&mut tx, tenant, kind, scim_id, &ts(now)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets every link of `tenant` and queues a sync of every user and group (the
    /// development emulator starts empty on every run).
    pub async fn resync_tenant(&self, tenant: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        let now_s = ts(now);
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM cic_links WHERE tenant = $1")
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        for (table, kind) in [("scim_users", ResourceKind::User), ("scim_groups", ResourceKind::Group)] {
            let ids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM {table} WHERE tenant = $1 ORDER BY id"
            )))
            .bind(tenant)
            .fetch_all(&mut *tx)
            .await?;
            for id in ids {
                enqueue(&mut tx, tenant, OpKind::sync(kind), &id, None, &Value::Null, &now_s).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn raise_alarm(
        &self,
        tenant: &str,
        code: &str,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alarms (tenant, code, message, raised_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (tenant, code) DO UPDATE SET message = $3, updated_at = $4, count = alarms.count + 1, \
               raised_at = CASE WHEN alarms.cleared_at IS NULL THEN alarms.raised_at ELSE $4 END, cleared_at = NULL",
        )
        .bind(tenant)
        .bind(code)
        .bind(message)
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn clear_alarm(&self, tenant: &str, code: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE alarms SET cleared_at = $3, updated_at = $3 WHERE tenant = $1 AND code = $2 AND cleared_at IS NULL",
        )
        .bind(tenant)
        .bind(code)
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Alarms currently raised.
    pub async fn alarms(&self) -> Result<Vec<Alarm>, StoreError> {
        let rows: Vec<(String, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT tenant, code, message, raised_at, updated_at, count FROM alarms WHERE cleared_at IS NULL ORDER BY tenant, code",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tenant, code, message, raised_at, updated_at, count)| Alarm {
                tenant,
                code,
                message,
                raised_at,
                updated_at,
                count,
            })
            .collect())
    }
}

impl PgStore {
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
        let now_s = ts(now);
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE operations SET state = 'failed', finished_at = $2, updated_at = $2, \
               result = 'the IdP was asked to retry (zone quota full); the resource was not kept' \
             WHERE id = $1 AND state = 'parked' \
               AND NOT EXISTS (SELECT 1 FROM cic_links l WHERE l.tenant = operations.tenant AND l.kind = $3 AND l.scim_id = operations.resource_id)",
        )
        .bind(op_id)
        .bind(&now_s)
        .bind(link_kind(kind))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        drop_resource(&mut tx, tenant, kind, scim_id, &now_s).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Deletes a resource that never reached Identity Center, with its memberships, and ends the
/// operations queued for it without effect.
async fn drop_resource(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant: &str,
    kind: ResourceKind,
    scim_id: &str,
    now: &str,
) -> Result<(), StoreError> {
    let (table, key_like, own_key) = match kind {
        ResourceKind::User => ("scim_users", format!("member:%:{scim_id}"), format!("user:{scim_id}")),
        ResourceKind::Group => ("scim_groups", format!("member:{scim_id}:%"), format!("group:{scim_id}")),
    };
    sqlx::query(
        "UPDATE operations SET state = 'done', result = 'dropped: the resource was not kept', \
           finished_at = $4, updated_at = $4 WHERE tenant = $1 AND (resource_key LIKE $2 OR resource_key = $3) AND state = 'pending'",
    )
    .bind(tenant)
    .bind(key_like)
    .bind(own_key)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {table} WHERE tenant = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(scim_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether the resource has a link, read in the caller's (write) transaction.
pub(super) async fn link_exists_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant: &str,
    kind: ResourceKind,
    scim_id: &str,
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cic_links WHERE tenant = $1 AND kind = $2 AND scim_id = $3")
        .bind(tenant)
        .bind(link_kind(kind))
        .bind(scim_id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(n > 0)
}

/// Saves a link; when the resource had none (or another object), queues its memberships in the
/// same transaction.
async fn save_link_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant: &str,
    kind: ResourceKind,
    scim_id: &str,
    link: &CicLink,
    now_s: &str,
) -> Result<(), StoreError> {
    if kind == ResourceKind::User {
        // Lock the user's row as SCIM writes do: a rename checks in its transaction whether
        // the user is linked (`on_username_change = "reject"`), and must not be able to
        // commit past a link saved after its check.
        sqlx::query("SELECT 1 FROM scim_users WHERE tenant = $1 AND id = $2 FOR UPDATE")
            .bind(tenant)
            .bind(scim_id)
            .execute(&mut **tx)
            .await?;
    }
    let existed: Option<String> =
        sqlx::query_scalar("SELECT cic_id FROM cic_links WHERE tenant = $1 AND kind = $2 AND scim_id = $3")
            .bind(tenant)
            .bind(link_kind(kind))
            .bind(scim_id)
            .fetch_optional(&mut **tx)
            .await?;
    sqlx::query(
        "INSERT INTO cic_links (tenant, kind, scim_id, cic_id, cic_name, synced, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         ON CONFLICT (tenant, kind, scim_id) DO UPDATE SET cic_id = $4, cic_name = $5, synced = $6, updated_at = $7",
    )
    .bind(tenant)
    .bind(link_kind(kind))
    .bind(scim_id)
    .bind(&link.cic_id)
    .bind(&link.cic_name)
    .bind(serde_json::to_string(&link.synced)?)
    .bind(now_s)
    .execute(&mut **tx)
    .await?;
    if kind == ResourceKind::Group {
        // A group created or renamed may gain or lose assignment rules.
        enqueue(tx, tenant, OpKind::AssignSync, scim_id, None, &Value::Null, now_s).await?;
    }
    if existed.as_deref() != Some(link.cic_id.as_str()) {
        match kind {
            ResourceKind::Group => {
                let users: Vec<String> =
                    sqlx::query_scalar("SELECT member_id FROM scim_group_members WHERE tenant = $1 AND group_id = $2")
                        .bind(tenant)
                        .bind(scim_id)
                        .fetch_all(&mut **tx)
                        .await?;
                enqueue_members(tx, tenant, scim_id, &users, now_s).await?;
            }
            ResourceKind::User => {
                let groups: Vec<String> =
                    sqlx::query_scalar("SELECT group_id FROM scim_group_members WHERE tenant = $1 AND member_id = $2")
                        .bind(tenant)
                        .bind(scim_id)
                        .fetch_all(&mut **tx)
                        .await?;
                for g in groups {
                    enqueue(tx, tenant, OpKind::MemberSync, &g, Some(scim_id), &Value::Null, now_s).await?;
                }
            }
        }
    }
    Ok(())
}

async fn apply_write(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, w: &Write, now_s: &str) -> Result<(), StoreError> {
    match w {
        Write::Link(l) => save_link_in(tx, &l.tenant, l.kind, &l.scim_id, &l.link, now_s).await,
        Write::Unlink { tenant, kind, scim_id } => {
            sqlx::query("DELETE FROM cic_links WHERE tenant = $1 AND kind = $2 AND scim_id = $3")
                .bind(tenant)
                .bind(link_kind(*kind))
                .bind(scim_id)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }
        Write::Task(t) => {
            sqlx::query(
                "INSERT INTO cic_tasks (tenant, task_id, task_type, scim_group, role_configuration_id, target_uin, status, failure_reason, polls, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
                 ON CONFLICT (tenant, task_id) DO UPDATE SET status = $7, failure_reason = $8, polls = $9, updated_at = $10",
            )
            .bind(&t.tenant)
            .bind(&t.task_id)
            .bind(&t.task_type)
            .bind(&t.scim_group)
            .bind(&t.role_configuration_id)
            .bind(i64::try_from(t.target_uin).unwrap_or(i64::MAX))
            .bind(&t.status)
            .bind(&t.failure_reason)
            .bind(t.polls)
            .bind(now_s)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }
        Write::Assignment {
            tenant,
            scim_group,
            role_configuration_id,
            target_uin,
            present,
        } => {
            let sql = if *present {
                "INSERT INTO cic_assignments (tenant, scim_group, role_configuration_id, target_uin, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM cic_assignments WHERE tenant = $1 AND scim_group = $2 AND role_configuration_id = $3 AND target_uin = $4 AND $5 IS NOT NULL"
            };
            sqlx::query(sql)
                .bind(tenant)
                .bind(scim_group)
                .bind(role_configuration_id)
                .bind(i64::try_from(*target_uin).unwrap_or(i64::MAX))
                .bind(now_s)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }
    }
}

type TaskTuple = (
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    String,
    Option<String>,
    i64,
    String,
    String,
);

const TASK_COLUMNS: &str = "tenant, task_id, task_type, scim_group, role_configuration_id, target_uin, status, failure_reason, polls, created_at, updated_at";

fn to_task(t: TaskTuple) -> TaskRow {
    TaskRow {
        tenant: t.0,
        task_id: t.1,
        task_type: t.2,
        scim_group: t.3,
        role_configuration_id: t.4,
        target_uin: u64::try_from(t.5).unwrap_or_default(),
        status: t.6,
        failure_reason: t.7,
        polls: t.8,
        created_at: t.9,
        updated_at: t.10,
    }
}

impl PgStore {
    /// Tasks of `tenant`, filtered by group, by (role configuration, account) and status.
    pub async fn tasks(
        &self,
        tenant: Option<&str>,
        scim_group: Option<&str>,
        target: Option<(&str, u64)>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TaskRow>, StoreError> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM cic_tasks WHERE ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR scim_group = $2) \
             AND ($3 IS NULL OR role_configuration_id = $3) AND ($4 IS NULL OR target_uin = $4) AND ($5 IS NULL OR status = $5) \
             ORDER BY created_at DESC LIMIT $6"
        );
        let rows: Vec<TaskTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(scim_group)
            .bind(target.map(|t| t.0))
            .bind(target.map(|t| i64::try_from(t.1).unwrap_or(i64::MAX)))
            .bind(status)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(to_task).collect())
    }

    /// The (role configuration, account) assignments cic-bridge made for a group.
    pub async fn managed_assignments(&self, tenant: &str, scim_group: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT role_configuration_id, target_uin FROM cic_assignments WHERE tenant = $1 AND scim_group = $2 ORDER BY 1, 2",
        )
        .bind(tenant)
        .bind(scim_group)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(rc, uin)| (rc, u64::try_from(uin).unwrap_or_default()))
            .collect())
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
        let mut tx = self.pool.begin().await?;
        let id = enqueue(&mut tx, tenant, kind, resource_id, related_id, &Value::Null, &ts(now)).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Queues an `assign.sync` for every group of `tenant` that exists in Identity Center.
    pub async fn enqueue_assign_all(&self, tenant: &str, now: OffsetDateTime) -> Result<u64, StoreError> {
        let now_s = ts(now);
        let mut tx = self.pool.begin().await?;
        let groups: Vec<String> =
            sqlx::query_scalar("SELECT scim_id FROM cic_links WHERE tenant = $1 AND kind = 'group' ORDER BY scim_id")
                .bind(tenant)
                .fetch_all(&mut *tx)
                .await?;
        for g in &groups {
            enqueue(&mut tx, tenant, OpKind::AssignSync, g, None, &Value::Null, &now_s).await?;
        }
        tx.commit().await?;
        Ok(groups.len() as u64)
    }
}

impl PgStore {
    /// Everything stored for `tenant` (reconciliation, explain), read in one REPEATABLE READ
    /// transaction so that the parts agree with each other (PostgreSQL's default, READ
    /// COMMITTED, takes a new snapshot per statement).
    pub async fn tenant_snapshot(&self, tenant: &str) -> Result<TenantSnapshot, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let users: Vec<(String, String)> =
            sqlx::query_as("SELECT id, doc::text FROM scim_users WHERE tenant = $1 ORDER BY id")
                .bind(tenant)
                .fetch_all(&mut *tx)
                .await?;
        let groups: Vec<(String, String)> =
            sqlx::query_as("SELECT id, doc::text FROM scim_groups WHERE tenant = $1 ORDER BY id")
                .bind(tenant)
                .fetch_all(&mut *tx)
                .await?;
        let links: Vec<super::ops::LinkRow> = sqlx::query_as(
            "SELECT kind, scim_id, cic_id, cic_name, synced FROM cic_links WHERE tenant = $1 ORDER BY kind, scim_id",
        )
        .bind(tenant)
        .fetch_all(&mut *tx)
        .await?;
        let members: Vec<(String, String)> = sqlx::query_as(
            "SELECT group_id, member_id FROM scim_group_members WHERE tenant = $1 ORDER BY group_id, member_id",
        )
        .bind(tenant)
        .fetch_all(&mut *tx)
        .await?;
        let assignments: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT scim_group, role_configuration_id, target_uin FROM cic_assignments WHERE tenant = $1 ORDER BY 1, 2, 3",
        )
        .bind(tenant)
        .fetch_all(&mut *tx)
        .await?;
        tx.rollback().await?;
        TenantSnapshot::from_rows(users, groups, links, members, assignments)
    }

    /// Reconciliation's fixes and the operations that repair them, in one transaction (see
    /// `SqliteStore::apply_fixes`).
    pub async fn apply_fixes(
        &self,
        tenant: &str,
        writes: &[Write],
        ops: &[(OpKind, String, Option<String>, Value)],
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let now_s = ts(now);
        let mut tx = self.pool.begin().await?;
        for w in writes {
            apply_write(&mut tx, w, &now_s).await?;
        }
        for (kind, resource, related, payload) in ops {
            enqueue(&mut tx, tenant, *kind, resource, related.as_deref(), payload, &now_s).await?;
        }
        tx.commit().await?;
        Ok(ops.len() as u64)
    }

    /// Operations per (tenant, kind, bucket); see `SqliteStore::queue_overview`.
    pub async fn queue_overview(&self, now: OffsetDateTime) -> Result<Vec<QueueCount>, StoreError> {
        let sql = super::ops::queue_overview_sql("$1");
        let rows: Vec<(String, String, String, i64, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(ts(now))
            .fetch_all(&self.pool)
            .await?;
        Ok(super::ops::to_queue_counts(rows))
    }

    /// Group memberships held per tenant.
    pub async fn membership_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT tenant, count(*) FROM scim_group_members GROUP BY tenant")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Versions of the embedded migrations that the database has not applied successfully.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await?;
        let applied: std::collections::HashSet<i64> = applied.into_iter().map(|(v,)| v).collect();
        Ok(sqlx::migrate!("./migrations/postgres")
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }
}
