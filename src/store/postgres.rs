//! PostgreSQL backend: the engine for several replicas sharing one database.
//!
//! The same statements as the SQLite backend, translated: `$N` placeholders, arrays bound as
//! `text[]` where SQLite expands a JSON array with `json_each`, `doc` as jsonb. PostgreSQL takes
//! concurrent writers itself, so every request runs its own transaction on a pooled connection
//! (no dedicated writer, no group commit). A write that reads a resource first locks its row
//! (`FOR UPDATE`), so concurrent writes to one resource serialise and their outbox rows get ids
//! in commit order; uniqueness of names is the unique indexes', enforced across replicas.

use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Postgres, Transaction};

use super::{Columns, IfMatch, Link, ListQuery, OpKind, Replacement, Row, StoreError, now_string};
use crate::scim::ScimError;
use crate::scim::filter::{self, Dialect, SqlParam};
use crate::scim::patch::{MemberEdit, PatchOutcome};
use crate::scim::schema::{self, ResourceKind};

#[derive(Clone)]
pub struct PgStore {
    pub(super) pool: PgPool,
    /// For the leader lock's dedicated connection (see `leader.rs`).
    pub(super) options: std::sync::Arc<PgConnectOptions>,
    pub(super) health: std::sync::Arc<super::health::StoreHealth>,
}

type RowTuple = (String, String, i64, String, String, Option<String>);

/// A user's groups as a JSON array of `[id, displayName]`, ordered by group id, computed in
/// the row's own statement (alias `r`). `[]` for a user in no group, as SQLite's
/// `json_group_array` gives.
const USER_GROUPS_COL: &str = "(SELECT coalesce(json_agg(json_build_array(m.group_id, g.display_name) ORDER BY m.group_id), '[]'::json)::text \
     FROM scim_group_members m JOIN scim_groups g ON g.tenant = m.tenant AND g.id = m.group_id \
     WHERE m.tenant = r.tenant AND m.member_id = r.id)";

fn links_col(kind: ResourceKind, with_links: bool) -> &'static str {
    match kind {
        ResourceKind::User if with_links => USER_GROUPS_COL,
        _ => "NULL::text",
    }
}

fn table(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "scim_users",
        ResourceKind::Group => "scim_groups",
    }
}

fn to_row(t: RowTuple) -> Result<Row, StoreError> {
    let doc: Map<String, Value> = serde_json::from_str(&t.1)?;
    let links = match t.5 {
        Some(text) => {
            let pairs: Vec<(String, Option<String>)> = serde_json::from_str(&text)?;
            Some(
                pairs
                    .into_iter()
                    .map(|(id, display)| Link {
                        id,
                        display: display.unwrap_or_default(),
                    })
                    .collect(),
            )
        }
        None => None,
    };
    Ok(Row {
        id: t.0,
        doc,
        version: t.2,
        created: t.3,
        last_modified: t.4,
        links,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// PostgreSQL refuses U+0000 in text and jsonb (22021 for a text parameter, 22P05 for a `\u0000`
/// escape in jsonb), which SQLite stores. The client sent it, so it is the client's error.
fn nul_refused(e: &sqlx::Error) -> Option<StoreError> {
    match e {
        sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("22021" | "22P05")) => Some(StoreError::Scim(
            ScimError::invalid_value("values must not contain the NUL character (U+0000)"),
        )),
        _ => None,
    }
}

fn conflict_detail(kind: ResourceKind, doc: &Map<String, Value>) -> String {
    match kind {
        ResourceKind::User => format!(
            "a user with userName \"{}\" already exists (userName is unique, case-insensitively)",
            doc.get("userName").and_then(Value::as_str).unwrap_or_default()
        ),
        ResourceKind::Group => format!(
            "a group with displayName \"{}\" already exists (displayName is unique, case-insensitively)",
            doc.get("displayName").and_then(Value::as_str).unwrap_or_default()
        ),
    }
}

impl PgStore {
    /// Connects and applies pending migrations. sqlx's PostgreSQL migrator holds a session
    /// advisory lock (`pg_advisory_lock`, keyed by the database name) from before it creates
    /// its bookkeeping table until the last migration ran, so replicas starting together apply
    /// each migration once: the others wait, then find it applied.
    pub async fn connect(url: &str, max_connections: u32) -> Result<PgStore, StoreError> {
        // Custom plans for every execution: sqlx prepares each statement once per connection,
        // typically while the outbox is nearly empty, and PostgreSQL may then cache a generic
        // plan fit for a tiny table (an anti-join over a sequential scan). Once thousands of
        // operations (and their dead versions) pile up, that plan made one claim take 15-30 s.
        // Planning these statements costs well under a millisecond.
        let options = PgConnectOptions::from_str(url)?
            .application_name("cic-bridge")
            .options([("plan_cache_mode", "force_custom_plan")]);
        // While PostgreSQL is down, acquiring keeps trying to connect until this timeout; a
        // SCIM client then waits this long for its 503. Ten seconds rides out a fast restart
        // and stays well within the IdPs' own request timeouts.
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore {
            pool,
            options: std::sync::Arc::new(options),
            health: std::sync::Arc::default(),
        })
    }

    /// The write probe (see `health`): this process's row rewritten in its own transaction.
    pub async fn probe_write(&self, owner: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO store_probe (id, at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET at = excluded.at")
            .bind(owner)
            .bind(now_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn get(&self, kind: ResourceKind, tenant: &str, id: &str) -> Result<Option<Row>, StoreError> {
        let sql = format!(
            "SELECT r.id, r.doc::text, r.version, r.created, r.last_modified, {} FROM {} r WHERE r.tenant = $1 AND r.id = $2",
            links_col(kind, true),
            table(kind)
        );
        let row: Option<RowTuple> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(to_row).transpose()
    }

    pub async fn list(
        &self,
        kind: ResourceKind,
        tenant: &str,
        q: &ListQuery<'_>,
    ) -> Result<(i64, Vec<Row>), StoreError> {
        let (where_sql, params) = match q.filter {
            Some(f) => {
                let s = filter::to_sql(f, kind, Dialect::Postgres, 2)
                    .map_err(|e| ScimError::invalid_filter(e.to_string()))?;
                (format!(" AND ({})", s.sql), s.params)
            }
            None => (String::new(), Vec::new()),
        };
        let order = match q.sort_by {
            Some(p) => {
                let expr = filter::sort_expr(p, kind, Dialect::Postgres)
                    .map_err(|e| ScimError::invalid_value(format!("sortBy: {e}")))?;
                // RFC 7644 §3.4.2.3: resources without a value sort last ascending, first descending.
                if q.descending {
                    format!("{expr} DESC NULLS FIRST, r.id DESC")
                } else {
                    format!("{expr} ASC NULLS LAST, r.id ASC")
                }
            }
            None => "r.id".to_string(),
        };
        let count_sql = format!("SELECT count(*) FROM {} r WHERE r.tenant = $1{where_sql}", table(kind));
        let count = || async {
            let mut query = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql.clone())).bind(tenant);
            for p in &params {
                query = bind_scalar(query, p);
            }
            query.fetch_one(&self.pool).await
        };
        if q.limit <= 0 {
            return Ok((count().await?, Vec::new()));
        }
        let n = params.len() + 2;
        let page_sql = format!(
            "SELECT r.id, r.doc::text, r.version, r.created, r.last_modified, {} FROM {} r WHERE r.tenant = $1{where_sql} ORDER BY {order} LIMIT ${} OFFSET ${}",
            links_col(kind, q.with_links),
            table(kind),
            n,
            n + 1
        );
        let mut query = sqlx::query_as::<_, RowTuple>(AssertSqlSafe(page_sql)).bind(tenant);
        for p in &params {
            query = bind_row(query, p);
        }
        let rows = query.bind(q.limit).bind(q.offset).fetch_all(&self.pool).await?;
        // The common lookup (`userName eq "…"`) fits on the first page: its length is the total,
        // which saves the COUNT query on the hot path.
        let total = if q.offset == 0 && (rows.len() as i64) < q.limit {
            rows.len() as i64
        } else {
            count().await?
        };
        let rows = rows.into_iter().map(to_row).collect::<Result<Vec<_>, _>>()?;
        Ok((total, rows))
    }

    pub async fn links(
        &self,
        kind: ResourceKind,
        tenant: &str,
        ids: &[&str],
    ) -> Result<Vec<(String, Link)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        let sql = match kind {
            ResourceKind::Group => {
                "SELECT m.group_id, m.member_id, coalesce(u.display_name, u.user_name) FROM scim_group_members m \
                 JOIN scim_users u ON u.tenant = m.tenant AND u.id = m.member_id \
                 WHERE m.tenant = $1 AND m.group_id = ANY($2) ORDER BY m.group_id, m.member_id"
            }
            ResourceKind::User => {
                "SELECT m.member_id, m.group_id, g.display_name FROM scim_group_members m \
                 JOIN scim_groups g ON g.tenant = m.tenant AND g.id = m.group_id \
                 WHERE m.tenant = $1 AND m.member_id = ANY($2) ORDER BY m.member_id, m.group_id"
            }
        };
        let rows: Vec<(String, String, String)> =
            sqlx::query_as(sql).bind(tenant).bind(ids).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|(owner, id, display)| (owner, Link { id, display }))
            .collect())
    }

    pub async fn create(
        &self,
        kind: ResourceKind,
        tenant: &str,
        doc: Map<String, Value>,
        members: Option<Vec<String>>,
    ) -> Result<(Row, i64), StoreError> {
        let now = now_string();
        let mut tx = self.pool.begin().await?;
        let created = create_in(&mut tx, kind, tenant, doc, members, &now).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn replace(
        &self,
        kind: ResourceKind,
        tenant: &str,
        id: &str,
        if_match: Option<&IfMatch>,
        new: Replacement,
    ) -> Result<Row, StoreError> {
        let now = now_string();
        let mut tx = self.pool.begin().await?;
        let current = load_for_update(&mut tx, kind, tenant, id).await?;
        check_precondition(if_match, current.version)?;
        let mut changed = current.doc != new.doc;
        if changed {
            enqueue(&mut tx, tenant, OpKind::sync(kind), id, None, &Value::Null, &now).await?;
        }
        if let Some(members) = new.members {
            changed |= apply_member_edits(&mut tx, tenant, id, &[MemberEdit::Replace(members)], &now).await?;
        }
        let row = write_back(&mut tx, kind, tenant, current, new.doc, changed, &now).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn patch<F>(
        &self,
        kind: ResourceKind,
        tenant: &str,
        id: &str,
        if_match: Option<&IfMatch>,
        read_link: bool,
        f: F,
    ) -> Result<Row, StoreError>
    where
        F: FnOnce(&Row, bool) -> Result<PatchOutcome, ScimError> + Send,
    {
        let now = now_string();
        let mut tx = self.pool.begin().await?;
        let current = load_for_update(&mut tx, kind, tenant, id).await?;
        check_precondition(if_match, current.version)?;
        let linked = read_link && super::postgres_ops::link_exists_in(&mut tx, tenant, kind, id).await?;
        let outcome = f(&current, linked)?;
        let mut changed = current.doc != outcome.doc;
        if changed {
            enqueue(&mut tx, tenant, OpKind::sync(kind), id, None, &Value::Null, &now).await?;
        }
        if !outcome.member_edits.is_empty() {
            changed |= apply_member_edits(&mut tx, tenant, id, &outcome.member_edits, &now).await?;
        }
        let row = write_back(&mut tx, kind, tenant, current, outcome.doc, changed, &now).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn delete(
        &self,
        kind: ResourceKind,
        tenant: &str,
        id: &str,
        if_match: Option<&IfMatch>,
    ) -> Result<(), StoreError> {
        let now = now_string();
        let mut tx = self.pool.begin().await?;
        let current = load_for_update(&mut tx, kind, tenant, id).await?;
        check_precondition(if_match, current.version)?;
        // The outbox keeps the name: the row is gone once the engine runs.
        let cols = Columns::of(kind, &current.doc);
        let payload = serde_json::json!({ "name": cols.name });
        // A queued sync of the resource has nothing left to do.
        sqlx::query(
            "UPDATE operations SET state = 'done', result = 'superseded by the delete', finished_at = $3, updated_at = $3 \
             WHERE tenant = $1 AND resource_key = $2 AND state = 'pending' AND kind = $4",
        )
        .bind(tenant)
        .bind(OpKind::sync(kind).key(id, None))
        .bind(&now)
        .bind(OpKind::sync(kind).as_str())
        .execute(&mut *tx)
        .await?;
        enqueue(&mut tx, tenant, OpKind::delete(kind), id, None, &payload, &now).await?;
        let sql = format!("DELETE FROM {} WHERE tenant = $1 AND id = $2", table(kind));
        sqlx::query(AssertSqlSafe(sql))
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn outbox_counts(&self, tenant: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT kind, count(*) FROM operations WHERE tenant = $1 AND state = 'pending' GROUP BY kind ORDER BY kind",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}

async fn create_in(
    tx: &mut Transaction<'_, Postgres>,
    kind: ResourceKind,
    tenant: &str,
    doc: Map<String, Value>,
    members: Option<Vec<String>>,
    now: &str,
) -> Result<(Row, i64), StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    insert_resource(tx, kind, tenant, &id, &doc, now).await?;
    let op_id = enqueue_with(tx, tenant, OpKind::sync(kind), &id, None, &Value::Null, now, false).await?;
    if let Some(members) = members {
        if !members.is_empty() {
            apply_member_edits(tx, tenant, &id, &[MemberEdit::Add(members)], now).await?;
        }
    }
    // A new user belongs to no group yet (memberships come from group writes).
    let links = (kind == ResourceKind::User).then(Vec::new);
    let row = Row {
        id,
        doc,
        version: 1,
        created: now.to_owned(),
        last_modified: now.to_owned(),
        links,
    };
    Ok((row, op_id))
}

fn check_precondition(if_match: Option<&IfMatch>, version: i64) -> Result<(), StoreError> {
    match if_match {
        Some(m) if !m.allows(version) => Err(StoreError::PreconditionFailed),
        _ => Ok(()),
    }
}

async fn insert_resource(
    tx: &mut Transaction<'_, Postgres>,
    kind: ResourceKind,
    tenant: &str,
    id: &str,
    doc: &Map<String, Value>,
    now: &str,
) -> Result<(), StoreError> {
    let cols = Columns::of(kind, doc);
    let doc_text = serde_json::to_string(doc)?;
    let res = match kind {
        ResourceKind::User => {
            sqlx::query(
                "INSERT INTO scim_users (tenant, id, user_name, user_name_lower, external_id, display_name, active, doc, version, created, last_modified) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 1, $9, $9)",
            )
            .bind(tenant)
            .bind(id)
            .bind(&cols.name)
            .bind(&cols.name_lower)
            .bind(&cols.external_id)
            .bind(&cols.display_name)
            .bind(cols.active)
            .bind(&doc_text)
            .bind(now)
            .execute(&mut **tx)
            .await
        }
        ResourceKind::Group => {
            sqlx::query(
                "INSERT INTO scim_groups (tenant, id, display_name, display_name_lower, external_id, doc, version, created, last_modified) \
                 VALUES ($1, $2, $3, $4, $5, $6::jsonb, 1, $7, $7)",
            )
            .bind(tenant)
            .bind(id)
            .bind(&cols.name)
            .bind(&cols.name_lower)
            .bind(&cols.external_id)
            .bind(&doc_text)
            .bind(now)
            .execute(&mut **tx)
            .await
        }
    };
    match res {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(conflict_detail(kind, doc))),
        Err(e) => Err(nul_refused(&e).unwrap_or_else(|| e.into())),
    }
}

async fn load_for_update(
    tx: &mut Transaction<'_, Postgres>,
    kind: ResourceKind,
    tenant: &str,
    id: &str,
) -> Result<Row, StoreError> {
    let sql = format!(
        "SELECT id, doc::text, version, created, last_modified, NULL::text FROM {} WHERE tenant = $1 AND id = $2 FOR UPDATE",
        table(kind)
    );
    let row: Option<RowTuple> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(to_row).transpose()?.ok_or(StoreError::NotFound)
}

/// Writes the new document (and bumps the version) if anything changed; returns the row.
async fn write_back(
    tx: &mut Transaction<'_, Postgres>,
    kind: ResourceKind,
    tenant: &str,
    current: Row,
    doc: Map<String, Value>,
    changed: bool,
    now: &str,
) -> Result<Row, StoreError> {
    if !changed {
        return Ok(current);
    }
    let cols = Columns::of(kind, &doc);
    let doc_text = serde_json::to_string(&doc)?;
    let version = current.version + 1;
    let res = match kind {
        ResourceKind::User => {
            sqlx::query(
                "UPDATE scim_users SET user_name = $3, user_name_lower = $4, external_id = $5, display_name = $6, active = $7, doc = $8::jsonb, \
                 version = $9, last_modified = $10 WHERE tenant = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(&current.id)
            .bind(&cols.name)
            .bind(&cols.name_lower)
            .bind(&cols.external_id)
            .bind(&cols.display_name)
            .bind(cols.active)
            .bind(&doc_text)
            .bind(version)
            .bind(now)
            .execute(&mut **tx)
            .await
        }
        ResourceKind::Group => {
            sqlx::query(
                "UPDATE scim_groups SET display_name = $3, display_name_lower = $4, external_id = $5, doc = $6::jsonb, version = $7, last_modified = $8 \
                 WHERE tenant = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(&current.id)
            .bind(&cols.name)
            .bind(&cols.name_lower)
            .bind(&cols.external_id)
            .bind(&doc_text)
            .bind(version)
            .bind(now)
            .execute(&mut **tx)
            .await
        }
    };
    match res {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict(conflict_detail(kind, &doc))),
        Err(e) => return Err(nul_refused(&e).unwrap_or_else(|| e.into())),
    }
    Ok(Row {
        id: current.id,
        doc,
        version,
        created: current.created,
        last_modified: now.to_string(),
        links: None,
    })
}

/// Records one operation, unless an equivalent one is already queued: operations sync state
/// read at execution time, so a pending sync of the same resource that is still the latest
/// operation on it covers this change too (a newer update supersedes an older one). A
/// deployment coalesces only with one that has not started its task yet: a change after the
/// task started needs a deployment of its own. Returns the id of the operation that will
/// carry the change.
pub(super) async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
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
    tx: &mut Transaction<'_, Postgres>,
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
        // FOR UPDATE: the queued operation carries this change only if no worker can claim it
        // before this transaction commits (it would read the state without the change, and
        // nothing else would be queued for it). A claim in progress makes this wait; the row
        // then reads 'running', matches no more, and a new operation is recorded.
        let queued: Option<i64> = sqlx::query_scalar(
            "SELECT o.id FROM operations o WHERE o.tenant = $1 AND o.resource_key = $2 AND o.kind = $3 AND o.resource_id = $4 AND o.state = 'pending' \
             AND (o.kind != 'deploy' OR o.result IS NULL) \
             AND NOT EXISTS (SELECT 1 FROM operations q WHERE q.tenant = o.tenant AND q.resource_key = o.resource_key AND q.id > o.id) \
             ORDER BY o.id DESC LIMIT 1 FOR UPDATE",
        )
        .bind(tenant)
        .bind(&key)
        .bind(kind.as_str())
        .bind(resource_id)
        .fetch_optional(&mut **tx)
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
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO operations (tenant, kind, resource_id, related_id, resource_key, payload, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7) RETURNING id",
    )
    .bind(tenant)
    .bind(kind.as_str())
    .bind(resource_id)
    .bind(related_id)
    .bind(&key)
    .bind(payload)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// Enqueues one membership sync per user id, in two statements whatever the count, skipping
/// pairs that already have a pending sync as their latest operation. Those pending syncs are
/// locked first (see [`enqueue_with`] for why); only a locked one may carry this change.
pub(super) async fn enqueue_members(
    tx: &mut Transaction<'_, Postgres>,
    tenant: &str,
    group_id: &str,
    user_ids: &[String],
    now: &str,
) -> Result<(), StoreError> {
    if user_ids.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = user_ids
        .iter()
        .map(|u| OpKind::MemberSync.key(group_id, Some(u)))
        .collect();
    let covered: Vec<String> = sqlx::query_scalar(
        "SELECT o.related_id FROM operations o WHERE o.tenant = $1 AND o.resource_key = ANY($2) AND o.kind = 'member.sync' \
           AND o.state = 'pending' \
           AND NOT EXISTS (SELECT 1 FROM operations q WHERE q.tenant = o.tenant AND q.resource_key = o.resource_key AND q.id > o.id) \
         ORDER BY o.id FOR UPDATE",
    )
    .bind(tenant)
    .bind(&keys)
    .fetch_all(&mut **tx)
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
    sqlx::query(
        "INSERT INTO operations (tenant, kind, resource_id, related_id, resource_key, payload, next_attempt_at, created_at, updated_at) \
         SELECT $1, 'member.sync', $2, j, 'member:' || $2 || ':' || j, '{}', $4, $4, $4 FROM unnest($3::text[]) j",
    )
    .bind(tenant)
    .bind(group_id)
    .bind(fresh)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Runs membership edits as bulk statements (an array parameter),
/// never one round trip per member. Returns whether membership changed.
async fn apply_member_edits(
    tx: &mut Transaction<'_, Postgres>,
    tenant: &str,
    group_id: &str,
    edits: &[MemberEdit],
    now: &str,
) -> Result<bool, StoreError> {
    let mut changed = false;
    for edit in edits {
        match edit {
            MemberEdit::Add(ids) => {
                check_members_exist(tx, tenant, ids).await?;
                let added = insert_members(tx, tenant, group_id, ids).await?;
                enqueue_members(tx, tenant, group_id, &added, now).await?;
                changed |= !added.is_empty();
            }
            MemberEdit::Remove(ids) => {
                let removed = delete_members(tx, tenant, group_id, ids, false).await?;
                enqueue_members(tx, tenant, group_id, &removed, now).await?;
                changed |= !removed.is_empty();
            }
            MemberEdit::Replace(ids) => {
                check_members_exist(tx, tenant, ids).await?;
                let removed = delete_members(tx, tenant, group_id, ids, true).await?;
                enqueue_members(tx, tenant, group_id, &removed, now).await?;
                let added = insert_members(tx, tenant, group_id, ids).await?;
                enqueue_members(tx, tenant, group_id, &added, now).await?;
                changed |= !removed.is_empty() || !added.is_empty();
            }
            MemberEdit::RemoveWhere(f) => {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT m.member_id, coalesce(u.display_name, u.user_name) FROM scim_group_members m \
                     JOIN scim_users u ON u.tenant = m.tenant AND u.id = m.member_id WHERE m.tenant = $1 AND m.group_id = $2",
                )
                .bind(tenant)
                .bind(group_id)
                .fetch_all(&mut **tx)
                .await?;
                let parent =
                    schema::resolve(ResourceKind::Group, None, "members", None).ok_or_else(ScimError::internal)?;
                let ids: Vec<String> = rows
                    .into_iter()
                    .filter(|(id, display)| {
                        let element = serde_json::json!({"value": id, "display": display, "type": "User"});
                        filter::matches_element(f, ResourceKind::Group, &parent, &element)
                    })
                    .map(|(id, _)| id)
                    .collect();
                let removed = delete_members(tx, tenant, group_id, &ids, false).await?;
                enqueue_members(tx, tenant, group_id, &removed, now).await?;
                changed |= !removed.is_empty();
            }
        }
    }
    Ok(changed)
}

async fn check_members_exist(
    tx: &mut Transaction<'_, Postgres>,
    tenant: &str,
    ids: &[String],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    // FOR KEY SHARE: a user found here cannot be deleted (by another replica) before this
    // transaction commits its memberships, so the check holds until the insert.
    let found: Vec<String> =
        sqlx::query_scalar("SELECT u.id FROM scim_users u WHERE u.tenant = $1 AND u.id = ANY($2) FOR KEY SHARE")
            .bind(tenant)
            .bind(ids)
            .fetch_all(&mut **tx)
            .await?;
    let found: std::collections::HashSet<&str> = found.iter().map(String::as_str).collect();
    let mut missing: Vec<String> = Vec::new();
    for id in ids {
        if !found.contains(id.as_str()) && !missing.contains(id) {
            missing.push(id.clone());
            if missing.len() == 20 {
                break;
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::UnknownMembers(missing))
    }
}

async fn insert_members(
    tx: &mut Transaction<'_, Postgres>,
    tenant: &str,
    group_id: &str,
    ids: &[String],
) -> Result<Vec<String>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // RETURNING yields only the rows actually inserted, i.e. the new memberships.
    let added: Vec<String> = sqlx::query_scalar(
        "INSERT INTO scim_group_members (tenant, group_id, member_id) SELECT DISTINCT $1, $2, m FROM unnest($3::text[]) m \
         ON CONFLICT DO NOTHING RETURNING member_id",
    )
    .bind(tenant)
    .bind(group_id)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(added)
}

/// Deletes the listed members, or with `keep` set every member NOT listed.
async fn delete_members(
    tx: &mut Transaction<'_, Postgres>,
    tenant: &str,
    group_id: &str,
    ids: &[String],
    keep: bool,
) -> Result<Vec<String>, StoreError> {
    if ids.is_empty() && !keep {
        return Ok(Vec::new());
    }
    let sql = if keep {
        "DELETE FROM scim_group_members WHERE tenant = $1 AND group_id = $2 AND member_id <> ALL($3) RETURNING member_id"
    } else {
        "DELETE FROM scim_group_members WHERE tenant = $1 AND group_id = $2 AND member_id = ANY($3) RETURNING member_id"
    };
    let removed: Vec<String> = sqlx::query_scalar(sql)
        .bind(tenant)
        .bind(group_id)
        .bind(ids)
        .fetch_all(&mut **tx)
        .await?;
    Ok(removed)
}

fn bind_scalar<'q>(
    q: sqlx::query::QueryScalar<'q, Postgres, i64, <Postgres as sqlx::Database>::Arguments>,
    p: &SqlParam,
) -> sqlx::query::QueryScalar<'q, Postgres, i64, <Postgres as sqlx::Database>::Arguments> {
    match p {
        SqlParam::Text(s) => q.bind(s.clone()),
        SqlParam::Int(i) => q.bind(*i),
        SqlParam::Real(f) => q.bind(*f),
        SqlParam::Bool(b) => q.bind(*b),
    }
}

fn bind_row<'q>(
    q: sqlx::query::QueryAs<'q, Postgres, RowTuple, <Postgres as sqlx::Database>::Arguments>,
    p: &SqlParam,
) -> sqlx::query::QueryAs<'q, Postgres, RowTuple, <Postgres as sqlx::Database>::Arguments> {
    match p {
        SqlParam::Text(s) => q.bind(s.clone()),
        SqlParam::Int(i) => q.bind(*i),
        SqlParam::Real(f) => q.bind(*f),
        SqlParam::Bool(b) => q.bind(*b),
    }
}
