//! What the writes of both SCIM and the engine record inside their transaction: outbox rows
//! (coalesced with a queued operation that already covers the change), links to Identity
//! Center objects, tasks and managed assignments. Written once for both databases (see
//! `sql.rs`); each function runs in the caller's transaction.

use serde_json::Value;

use super::StoreError;
use super::ops::{CicLink, OpKind, Write, link_kind};
use super::sql::{Dialect, Tx, stmt};
use crate::scim::schema::ResourceKind;

/// Deletes a resource that never reached Identity Center, with its memberships, and ends the
/// operations queued for it without effect.
pub(super) async fn drop_resource(
    tx: &mut Tx<'_>,
    tenant: &str,
    kind: ResourceKind,
    scim_id: &str,
    now: &str,
) -> Result<(), StoreError> {
    let (table, key_like, own_key) = match kind {
        ResourceKind::User => ("scim_users", format!("member:%:{scim_id}"), format!("user:{scim_id}")),
        ResourceKind::Group => ("scim_groups", format!("member:{scim_id}:%"), format!("group:{scim_id}")),
    };
    stmt(
        "UPDATE operations SET state = 'done', result = 'dropped: the resource was not kept', \
           finished_at = $4, updated_at = $4 WHERE tenant = $1 AND (resource_key LIKE $2 OR resource_key = $3) AND state = 'pending'",
    )
    .bind(tenant)
    .bind(key_like)
    .bind(own_key)
    .bind(now)
    .execute(tx.on())
    .await?;
    stmt(format!("DELETE FROM {table} WHERE tenant = $1 AND id = $2"))
        .bind(tenant)
        .bind(scim_id)
        .execute(tx.on())
        .await?;
    Ok(())
}

/// Whether the resource has a link, read in the caller's (write) transaction.
pub(super) async fn link_exists_in(
    tx: &mut Tx<'_>,
    tenant: &str,
    kind: ResourceKind,
    scim_id: &str,
) -> Result<bool, StoreError> {
    let n: i64 = stmt("SELECT count(*) FROM cic_links WHERE tenant = $1 AND kind = $2 AND scim_id = $3")
        .bind(tenant)
        .bind(link_kind(kind))
        .bind(scim_id)
        .scalar(tx.on())
        .await?;
    Ok(n > 0)
}

/// Saves a link; when the resource had none (or another object), queues its memberships in the
/// same transaction.
async fn save_link_in(
    tx: &mut Tx<'_>,
    tenant: &str,
    kind: ResourceKind,
    scim_id: &str,
    link: &CicLink,
    now_s: &str,
) -> Result<(), StoreError> {
    if kind == ResourceKind::User && tx.dialect() == Dialect::Postgres {
        // Lock the user's row as SCIM writes do: a rename checks in its transaction whether
        // the user is linked (`on_username_change = "reject"`), and must not be able to
        // commit past a link saved after its check. (SQLite's single writer orders them.)
        stmt("SELECT 1 FROM scim_users WHERE tenant = $1 AND id = $2 FOR UPDATE")
            .bind(tenant)
            .bind(scim_id)
            .execute(tx.on())
            .await?;
    }
    let existed: Option<String> = stmt("SELECT cic_id FROM cic_links WHERE tenant = $1 AND kind = $2 AND scim_id = $3")
        .bind(tenant)
        .bind(link_kind(kind))
        .bind(scim_id)
        .scalar_optional(tx.on())
        .await?;
    stmt(
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
    .execute(tx.on())
    .await?;
    if kind == ResourceKind::Group {
        // A group created or renamed may gain or lose assignment rules.
        enqueue(tx, tenant, OpKind::AssignSync, scim_id, None, &Value::Null, now_s).await?;
    }
    if existed.as_deref() != Some(link.cic_id.as_str()) {
        match kind {
            ResourceKind::Group => {
                let users: Vec<String> =
                    stmt("SELECT member_id FROM scim_group_members WHERE tenant = $1 AND group_id = $2")
                        .bind(tenant)
                        .bind(scim_id)
                        .scalars(tx.on())
                        .await?;
                enqueue_members(tx, tenant, scim_id, &users, now_s).await?;
            }
            ResourceKind::User => {
                let groups: Vec<String> =
                    stmt("SELECT group_id FROM scim_group_members WHERE tenant = $1 AND member_id = $2")
                        .bind(tenant)
                        .bind(scim_id)
                        .scalars(tx.on())
                        .await?;
                for g in groups {
                    enqueue(tx, tenant, OpKind::MemberSync, &g, Some(scim_id), &Value::Null, now_s).await?;
                }
            }
        }
    }
    Ok(())
}

pub(super) async fn apply_write(tx: &mut Tx<'_>, w: &Write, now_s: &str) -> Result<(), StoreError> {
    match w {
        Write::Link(l) => save_link_in(tx, &l.tenant, l.kind, &l.scim_id, &l.link, now_s).await,
        Write::Unlink { tenant, kind, scim_id } => {
            stmt("DELETE FROM cic_links WHERE tenant = $1 AND kind = $2 AND scim_id = $3")
                .bind(tenant)
                .bind(link_kind(*kind))
                .bind(scim_id)
                .execute(tx.on())
                .await?;
            Ok(())
        }
        Write::Task(t) => {
            stmt(
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
            .bind(t.status.as_str())
            .bind(&t.failure_reason)
            .bind(t.polls)
            .bind(now_s)
            .execute(tx.on())
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
            let uin = i64::try_from(*target_uin).unwrap_or(i64::MAX);
            let s = if *present {
                stmt(
                    "INSERT INTO cic_assignments (tenant, scim_group, role_configuration_id, target_uin, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(tenant)
                .bind(scim_group)
                .bind(role_configuration_id)
                .bind(uin)
                .bind(now_s)
            } else {
                stmt(
                    "DELETE FROM cic_assignments WHERE tenant = $1 AND scim_group = $2 AND role_configuration_id = $3 AND target_uin = $4",
                )
                .bind(tenant)
                .bind(scim_group)
                .bind(role_configuration_id)
                .bind(uin)
            };
            s.execute(tx.on()).await?;
            Ok(())
        }
        Write::Audit(entry) => super::audit::record(tx, std::slice::from_ref(entry), now_s).await,
    }
}

/// Queues an assignment sync of every linked group of `tenant` (a rule or the organization
/// changed); returns how many.
pub(super) async fn enqueue_assign_syncs(tx: &mut Tx<'_>, tenant: &str, now: &str) -> Result<u64, StoreError> {
    let groups: Vec<String> =
        stmt("SELECT scim_id FROM cic_links WHERE tenant = $1 AND kind = 'group' ORDER BY scim_id")
            .bind(tenant)
            .scalars(tx.on())
            .await?;
    for g in &groups {
        enqueue(tx, tenant, OpKind::AssignSync, g, None, &Value::Null, now).await?;
    }
    Ok(groups.len() as u64)
}

/// Records one operation, unless an equivalent one is already queued: operations sync state
/// read at execution time, so a pending sync of the same resource that is still the latest
/// operation on it covers this change too (a newer update supersedes an older one). A
/// deployment coalesces only with one that has not started its task yet: a change after the
/// task started needs a deployment of its own. Returns the id of the operation that will
/// carry the change.
pub(super) async fn enqueue(
    tx: &mut Tx<'_>,
    tenant: &str,
    kind: OpKind,
    resource_id: &str,
    related_id: Option<&str>,
    payload: &Value,
    now: &str,
) -> Result<i64, StoreError> {
    enqueue_with(
        tx,
        tenant,
        kind,
        resource_id,
        related_id,
        payload,
        now,
        kind.coalesces(),
    )
    .await
}

/// [`enqueue`] with the coalescing check chosen by the caller: a resource created in this
/// transaction has a fresh id, so nothing can be queued for it yet.
#[allow(clippy::too_many_arguments)]
pub(super) async fn enqueue_with(
    tx: &mut Tx<'_>,
    tenant: &str,
    kind: OpKind,
    resource_id: &str,
    related_id: Option<&str>,
    payload: &Value,
    now: &str,
    coalesce: bool,
) -> Result<i64, StoreError> {
    let key = kind.key(resource_id, related_id);
    if coalesce {
        // FOR UPDATE (PostgreSQL): the queued operation carries this change only if no worker
        // can claim it before this transaction commits (it would read the state without the
        // change, and nothing else would be queued for it). A claim in progress makes this
        // wait; the row then reads 'running', matches no more, and a new operation is
        // recorded. SQLite's single writer cannot interleave a claim.
        let queued: Option<i64> = stmt(format!(
            "SELECT o.id FROM operations o WHERE o.tenant = $1 AND o.resource_key = $2 AND o.kind = $3 AND o.resource_id = $4 AND {} = 'pending' \
             AND (o.kind != 'deploy' OR o.result IS NULL) \
             AND NOT EXISTS (SELECT 1 FROM operations q WHERE q.tenant = o.tenant AND q.resource_key = o.resource_key AND q.id > o.id) \
             ORDER BY o.id DESC LIMIT 1{}",
            tx.dialect().unindexed("o.state"),
            tx.dialect().for_update()
        ))
        .bind(tenant)
        .bind(&key)
        .bind(kind.as_str())
        .bind(resource_id)
        .scalar_optional(tx.on())
        .await?;
        if let Some(id) = queued {
            return Ok(id);
        }
    }
    let payload = if payload.is_null() {
        "{}".to_string()
    } else {
        serde_json::to_string(payload)?
    };
    let id: i64 = stmt(
        "INSERT INTO operations (tenant, kind, resource_id, related_id, resource_key, payload, next_attempt_at, created_at, updated_at, cause) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $8) RETURNING id",
    )
    .bind(tenant)
    .bind(kind.as_str())
    .bind(resource_id)
    .bind(related_id)
    .bind(&key)
    .bind(payload)
    .bind(now)
    .bind(tx.cause())
    .scalar(tx.on())
    .await?;
    Ok(id)
}

/// Enqueues one membership sync per user id, in two statements whatever the count, skipping
/// pairs that already have a pending sync as their latest operation. On PostgreSQL those
/// pending syncs are locked first (see [`enqueue_with`] for why); only a locked one may carry
/// this change.
pub(super) async fn enqueue_members(
    tx: &mut Tx<'_>,
    tenant: &str,
    group_id: &str,
    user_ids: &[String],
    now: &str,
) -> Result<(), StoreError> {
    if user_ids.is_empty() {
        return Ok(());
    }
    let d = tx.dialect();
    let keys: Vec<String> = user_ids
        .iter()
        .map(|u| OpKind::MemberSync.key(group_id, Some(u)))
        .collect();
    let covered: Vec<String> = stmt(format!(
        "SELECT o.related_id FROM operations o WHERE o.tenant = $1 AND {} AND o.kind = 'member.sync' \
           AND {} = 'pending' \
           AND NOT EXISTS (SELECT 1 FROM operations q WHERE q.tenant = o.tenant AND q.resource_key = o.resource_key AND q.id > o.id) \
         ORDER BY o.id{}",
        d.in_list("o.resource_key", 2),
        d.unindexed("o.state"),
        d.for_update()
    ))
    .bind(tenant)
    .bind(&keys)
    .scalars(tx.on())
    .await?;
    let covered: std::collections::HashSet<&str> = covered.iter().map(String::as_str).collect();
    let mut fresh: Vec<&str> = user_ids
        .iter()
        .map(String::as_str)
        .filter(|u| !covered.contains(u))
        .collect();
    fresh.sort_unstable();
    fresh.dedup();
    if fresh.is_empty() {
        return Ok(());
    }
    stmt(format!(
        "INSERT INTO operations (tenant, kind, resource_id, related_id, resource_key, payload, next_attempt_at, created_at, updated_at, cause) \
         SELECT $1, 'member.sync', $2, j.value, 'member:' || $2 || ':' || j.value, '{{}}', $4, $4, $4, $5 FROM {} j",
        d.list_rows(3)
    ))
    .bind(tenant)
    .bind(group_id)
    .bind(fresh.as_slice())
    .bind(now)
    .bind(tx.cause())
    .execute(tx.on())
    .await?;
    Ok(())
}
