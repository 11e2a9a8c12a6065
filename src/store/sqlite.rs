//! SQLite backend.

use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Sqlite, Transaction};

use super::{Columns, IfMatch, Link, ListQuery, OpKind, Replacement, Row, StoreError, now_string};
use crate::scim::ScimError;
use crate::scim::filter::{self, Dialect, SqlParam};
use crate::scim::patch::{MemberEdit, PatchOutcome};
use crate::scim::schema::{self, ResourceKind};

#[derive(Clone)]
pub struct SqliteStore {
    pub(super) write: SqlitePool,
    pub(super) health: std::sync::Arc<super::health::StoreHealth>,
    pub(super) read: SqlitePool,
    /// Creates go through one task that commits the creates waiting at that moment together
    /// (group commit, see [`group_commit`]).
    creates: tokio::sync::mpsc::Sender<CreateJob>,
}

type Created = Result<(Row, i64), StoreError>;

struct CreateJob {
    kind: ResourceKind,
    tenant: String,
    doc: Map<String, Value>,
    members: Option<Vec<String>>,
    reply: tokio::sync::oneshot::Sender<Created>,
}

/// How long a statement waits for another process's lock before SQLITE_BUSY (503).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest number of creates committed together.
const GROUP_COMMIT_MAX: usize = 256;

type RowTuple = (String, String, i64, String, String, Option<String>);

/// A user's groups as a JSON array of `[id, displayName]`, ordered by group id, computed in
/// the row's own statement (alias `r`).
const USER_GROUPS_COL: &str = "(SELECT json_group_array(json_array(x.group_id, x.display_name)) FROM \
     (SELECT m.group_id, g.display_name FROM scim_group_members m JOIN scim_groups g ON g.tenant = m.tenant AND g.id = m.group_id \
      WHERE m.tenant = r.tenant AND m.member_id = r.id ORDER BY m.group_id) x)";

fn links_col(kind: ResourceKind, with_links: bool) -> &'static str {
    match kind {
        ResourceKind::User if with_links => USER_GROUPS_COL,
        _ => "NULL",
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

impl SqliteStore {
    pub async fn connect(url: &str, read_connections: u32, sync_full: bool) -> Result<SqliteStore, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if sync_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // An in-process SQLite connection cannot drop like a network one: the default ping on
        // every acquire only costs a round trip to sqlx's connection thread.
        let health = std::sync::Arc::new(super::health::StoreHealth::default());
        // Whether the writer connection was opened during an outage (with the short busy
        // timeout): it is replaced at its first release after the outage.
        let short_wait = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .after_release({
                let (health, short_wait) = (health.clone(), short_wait.clone());
                move |conn, _| {
                    let replace = !health.writable() || short_wait.load(std::sync::atomic::Ordering::Relaxed);
                    Box::pin(async move { writer_reusable(conn, replace).await })
                }
            })
            // During an outage the writer waits for another process's lock only briefly: the
            // store is known not to commit, and one writer serves every request in turn, so
            // ten seconds each would queue the 503s of waiting clients behind one another.
            .after_connect({
                let (health, short_wait) = (health.clone(), short_wait.clone());
                move |conn, _| {
                    let outage = !health.writable();
                    short_wait.store(outage, std::sync::atomic::Ordering::Relaxed);
                    Box::pin(async move {
                        if outage {
                            sqlx::raw_sql("PRAGMA busy_timeout = 1000").execute(conn).await?;
                        }
                        Ok(())
                    })
                }
            })
            .connect_with(opts.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(read_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            // SQLite shares one wal-index (-shm) and the file descriptors of a database among
            // all connections of a process: a file that was read-only when they opened stays
            // read-only for a new writer connection while any reader keeps it open. During an
            // outage readers are therefore closed when released, and idle ones time out, so
            // the writer reopens the file as it is now.
            .idle_timeout(Duration::from_secs(20))
            .after_release({
                let health = health.clone();
                move |_, _| {
                    let keep = health.writable();
                    Box::pin(async move { Ok(keep) })
                }
            })
            // No mmap_size: it saves a few pread calls per lookup, but every reader connection
            // maps the file separately, and at 100,000 users resident memory went from 55 MB
            // to 770 MB.
            .connect_with(opts.read_only(true))
            .await?;
        let (creates, queue) = tokio::sync::mpsc::channel(GROUP_COMMIT_MAX * 4);
        tokio::spawn(group_commit(write.clone(), queue));
        Ok(SqliteStore {
            write,
            health,
            read,
            creates,
        })
    }

    /// The write probe (see `health`): one row rewritten in its own transaction.
    pub async fn probe_write(&self, owner: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO store_probe (id, at) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET at = excluded.at")
            .bind(owner)
            .bind(now_string())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    pub async fn get(&self, kind: ResourceKind, tenant: &str, id: &str) -> Result<Option<Row>, StoreError> {
        let sql = format!(
            "SELECT r.id, r.doc, r.version, r.created, r.last_modified, {} FROM {} r WHERE r.tenant = ?1 AND r.id = ?2",
            links_col(kind, true),
            table(kind)
        );
        let row: Option<RowTuple> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.read)
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
                let s = filter::to_sql(f, kind, Dialect::Sqlite, 2)
                    .map_err(|e| ScimError::invalid_filter(e.to_string()))?;
                (format!(" AND ({})", s.sql), s.params)
            }
            None => (String::new(), Vec::new()),
        };
        let order = match q.sort_by {
            Some(p) => {
                let expr = filter::sort_expr(p, kind, Dialect::Sqlite)
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
        let count_sql = format!("SELECT count(*) FROM {} r WHERE r.tenant = ?1{where_sql}", table(kind));
        let count = || async {
            let mut query = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql.clone())).bind(tenant);
            for p in &params {
                query = bind_scalar(query, p);
            }
            query.fetch_one(&self.read).await
        };
        if q.limit <= 0 {
            return Ok((count().await?, Vec::new()));
        }
        let n = params.len() + 2;
        let page_sql = format!(
            "SELECT r.id, r.doc, r.version, r.created, r.last_modified, {} FROM {} r WHERE r.tenant = ?1{where_sql} ORDER BY {order} LIMIT ?{} OFFSET ?{}",
            links_col(kind, q.with_links),
            table(kind),
            n,
            n + 1
        );
        let mut query = sqlx::query_as::<_, RowTuple>(AssertSqlSafe(page_sql)).bind(tenant);
        for p in &params {
            query = bind_row(query, p);
        }
        let rows = query.bind(q.limit).bind(q.offset).fetch_all(&self.read).await?;
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
        let ids_json = serde_json::to_string(ids)?;
        let sql = match kind {
            ResourceKind::Group => {
                "SELECT m.group_id, m.member_id, coalesce(u.display_name, u.user_name) FROM scim_group_members m \
                 JOIN scim_users u ON u.tenant = m.tenant AND u.id = m.member_id \
                 WHERE m.tenant = ?1 AND m.group_id IN (SELECT value FROM json_each(?2)) ORDER BY m.group_id, m.member_id"
            }
            ResourceKind::User => {
                "SELECT m.member_id, m.group_id, g.display_name FROM scim_group_members m \
                 JOIN scim_groups g ON g.tenant = m.tenant AND g.id = m.group_id \
                 WHERE m.tenant = ?1 AND m.member_id IN (SELECT value FROM json_each(?2)) ORDER BY m.member_id, m.group_id"
            }
        };
        let rows: Vec<(String, String, String)> = sqlx::query_as(sql)
            .bind(tenant)
            .bind(ids_json)
            .fetch_all(&self.read)
            .await?;
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
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = CreateJob {
            kind,
            tenant: tenant.to_owned(),
            doc,
            members,
            reply,
        };
        let closed = || StoreError::from(sqlx::Error::PoolClosed);
        self.creates.send(job).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
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
        let mut tx = self.write.begin().await?;
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
        let mut tx = self.write.begin().await?;
        let current = load_for_update(&mut tx, kind, tenant, id).await?;
        check_precondition(if_match, current.version)?;
        let linked = read_link && super::sqlite_ops::link_exists_in(&mut tx, tenant, kind, id).await?;
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
        let mut tx = self.write.begin().await?;
        let current = load_for_update(&mut tx, kind, tenant, id).await?;
        check_precondition(if_match, current.version)?;
        // The outbox keeps the name: the row is gone once the engine runs.
        let cols = Columns::of(kind, &current.doc);
        let payload = serde_json::json!({ "name": cols.name });
        // A queued sync of the resource has nothing left to do.
        sqlx::query(
            "UPDATE operations SET state = 'done', result = 'superseded by the delete', finished_at = ?3, updated_at = ?3 \
             WHERE tenant = ?1 AND resource_key = ?2 AND state = 'pending' AND kind = ?4",
        )
        .bind(tenant)
        .bind(OpKind::sync(kind).key(id, None))
        .bind(&now)
        .bind(OpKind::sync(kind).as_str())
        .execute(&mut *tx)
        .await?;
        enqueue(&mut tx, tenant, OpKind::delete(kind), id, None, &payload, &now).await?;
        let sql = format!("DELETE FROM {} WHERE tenant = ?1 AND id = ?2", table(kind));
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
            "SELECT kind, count(*) FROM operations WHERE tenant = ?1 AND state = 'pending' GROUP BY kind ORDER BY kind",
        )
        .bind(tenant)
        .fetch_all(&self.read)
        .await?;
        Ok(rows)
    }
}

/// Whether the writer connection may serve the next write (sqlx's `after_release` hook).
///
/// After a failed COMMIT, SQLite may have rolled the transaction back by itself (SQLITE_FULL,
/// SQLITE_IOERR, SQLITE_BUSY) or kept it open, and sqlx's count of open transactions can then
/// disagree with the connection: sqlx's rollback on drop fails, the count stays at one, and
/// every later `begin` became a SAVEPOINT inside a transaction that never committed. Each
/// write then "succeeded" and was answered 201 while nothing reached the disk (6,000 creates
/// on a full 3 MB disk: 5,918 acknowledged and lost). A connection that may be in that state
/// is closed instead (closing rolls back whatever is open) and the pool opens a fresh one.
/// During an outage every write gets a fresh connection too (one opened before the database
/// file became read-only keeps failing after it is writable again), and so does the first
/// write after it (`replace`: the connection opened during the outage waits only briefly).
async fn writer_reusable(conn: &mut sqlx::SqliteConnection, replace: bool) -> Result<bool, sqlx::Error> {
    if replace || sqlx::Connection::is_in_transaction(conn) {
        return Ok(false);
    }
    // sqlx's count says no transaction: check that SQLite agrees (BEGIN fails inside one).
    if sqlx::raw_sql("BEGIN").execute(&mut *conn).await.is_err() {
        return Ok(false);
    }
    Ok(sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.is_ok())
}

/// Group commit of creates. Each create runs in its own savepoint inside one transaction per
/// batch, so a create that fails (a duplicate userName) rolls back alone and answers its own
/// error; the batch then commits once, synced to disk as `synchronous` says, and only then does
/// any caller get its answer: nothing is acknowledged before it is durable. A batch is what is
/// already waiting when the writer is free (no timer), so a lone create is not delayed.
async fn group_commit(write: SqlitePool, mut queue: tokio::sync::mpsc::Receiver<CreateJob>) {
    let mut batch = Vec::with_capacity(GROUP_COMMIT_MAX);
    while queue.recv_many(&mut batch, GROUP_COMMIT_MAX).await > 0 {
        let mut jobs = std::mem::take(&mut batch).into_iter();
        let mut done: Vec<(tokio::sync::oneshot::Sender<Created>, Created)> = Vec::with_capacity(jobs.len());
        let outcome: Result<(), StoreError> = async {
            let mut tx = write.begin().await?;
            for job in jobs.by_ref() {
                let now = now_string();
                let mut sp = sqlx::Acquire::begin(&mut tx).await?;
                let result = create_in(&mut sp, job.kind, &job.tenant, job.doc, job.members, &now).await;
                // A savepoint that cannot be released or rolled back fails the whole batch;
                // this job is answered with the others below.
                let settled = if result.is_ok() {
                    sp.commit().await
                } else {
                    sp.rollback().await
                };
                done.push((job.reply, result));
                settled?;
                // A create that failed for the database's sake (not its own: a duplicate
                // userName) fails the batch, so that no one is told it committed.
                if let Some((_, Err(e))) = done.last() {
                    if e.is_transient() || matches!(e, StoreError::Db(_)) {
                        return Err(batch_error(e));
                    }
                }
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => {
                for (reply, result) in done {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                // Nothing of this batch is stored; every caller hears so, with an error that
                // keeps its class (a full disk is 503 for each of them, not 500).
                // Each caller's request logs its refusal; this says how many shared the batch.
                tracing::debug!(error = %e, creates = done.len() + jobs.len(), "batch of creates not committed");
                for (reply, _) in done {
                    let _ = reply.send(Err(batch_error(&e)));
                }
                for job in jobs {
                    let _ = job.reply.send(Err(batch_error(&e)));
                }
            }
        }
    }
}

/// The error each create of a failed batch is answered with.
fn batch_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable { reason, .. } => StoreError::Unavailable {
            reason,
            source: sqlx::Error::Protocol(format!("batch commit failed: {e}")),
        },
        StoreError::Busy(_) => StoreError::Busy(sqlx::Error::Protocol(format!("batch commit failed: {e}"))),
        other => StoreError::Invalid(format!("batch commit failed: {other}")),
    }
}

async fn create_in(
    tx: &mut Transaction<'_, Sqlite>,
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
    tx: &mut Transaction<'_, Sqlite>,
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
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9)",
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
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)",
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
        Err(e) => Err(e.into()),
    }
}

async fn load_for_update(
    tx: &mut Transaction<'_, Sqlite>,
    kind: ResourceKind,
    tenant: &str,
    id: &str,
) -> Result<Row, StoreError> {
    let sql = format!(
        "SELECT id, doc, version, created, last_modified, NULL FROM {} WHERE tenant = ?1 AND id = ?2",
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
    tx: &mut Transaction<'_, Sqlite>,
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
                "UPDATE scim_users SET user_name = ?3, user_name_lower = ?4, external_id = ?5, display_name = ?6, active = ?7, doc = ?8, \
                 version = ?9, last_modified = ?10 WHERE tenant = ?1 AND id = ?2",
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
                "UPDATE scim_groups SET display_name = ?3, display_name_lower = ?4, external_id = ?5, doc = ?6, version = ?7, last_modified = ?8 \
                 WHERE tenant = ?1 AND id = ?2",
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
        Err(e) => return Err(e.into()),
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
    tx: &mut Transaction<'_, Sqlite>,
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
    tx: &mut Transaction<'_, Sqlite>,
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
        let queued: Option<i64> = sqlx::query_scalar(
            "SELECT o.id FROM operations o WHERE o.tenant = ?1 AND o.resource_key = ?2 AND o.kind = ?3 AND o.resource_id = ?4 AND o.state = 'pending' \
             AND (o.kind != 'deploy' OR o.result IS NULL) \
             AND NOT EXISTS (SELECT 1 FROM operations q WHERE q.tenant = o.tenant AND q.resource_key = o.resource_key AND q.id > o.id) \
             ORDER BY o.id DESC LIMIT 1",
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
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7) RETURNING id",
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

/// Enqueues one membership sync per user id, in one statement, skipping pairs that already
/// have a pending sync as their latest operation.
async fn enqueue_members(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &str,
    group_id: &str,
    user_ids: &[String],
    now: &str,
) -> Result<(), StoreError> {
    if user_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(MEMBER_SYNC_INSERT)
        .bind(tenant)
        .bind(group_id)
        .bind(serde_json::to_string(user_ids)?)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// `?1` tenant, `?2` group id, `?3` JSON array of user ids, `?4` now.
pub(super) const MEMBER_SYNC_INSERT: &str = "INSERT INTO operations (tenant, kind, resource_id, related_id, resource_key, payload, next_attempt_at, created_at, updated_at) \
     SELECT ?1, 'member.sync', ?2, j.value, 'member:' || ?2 || ':' || j.value, '{}', ?4, ?4, ?4 FROM json_each(?3) j \
     WHERE NOT EXISTS (SELECT 1 FROM operations o WHERE o.tenant = ?1 AND o.resource_key = 'member:' || ?2 || ':' || j.value \
       AND o.state = 'pending' AND NOT EXISTS (SELECT 1 FROM operations q WHERE q.tenant = o.tenant AND q.resource_key = o.resource_key AND q.id > o.id))";

/// Runs membership edits as bulk statements (a JSON array parameter expanded by `json_each`),
/// never one round trip per member. Returns whether membership changed.
async fn apply_member_edits(
    tx: &mut Transaction<'_, Sqlite>,
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
                     JOIN scim_users u ON u.tenant = m.tenant AND u.id = m.member_id WHERE m.tenant = ?1 AND m.group_id = ?2",
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

async fn check_members_exist(tx: &mut Transaction<'_, Sqlite>, tenant: &str, ids: &[String]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let missing: Vec<String> = sqlx::query_scalar(
        "SELECT j.value FROM json_each(?2) j WHERE NOT EXISTS (SELECT 1 FROM scim_users u WHERE u.tenant = ?1 AND u.id = j.value) LIMIT 20",
    )
    .bind(tenant)
    .bind(serde_json::to_string(ids)?)
    .fetch_all(&mut **tx)
    .await?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::UnknownMembers(missing))
    }
}

async fn insert_members(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &str,
    group_id: &str,
    ids: &[String],
) -> Result<Vec<String>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // RETURNING yields only the rows actually inserted, i.e. the new memberships.
    let added: Vec<String> = sqlx::query_scalar(
        "INSERT INTO scim_group_members (tenant, group_id, member_id) SELECT ?1, ?2, value FROM json_each(?3) WHERE true \
         ON CONFLICT DO NOTHING RETURNING member_id",
    )
    .bind(tenant)
    .bind(group_id)
    .bind(serde_json::to_string(ids)?)
    .fetch_all(&mut **tx)
    .await?;
    Ok(added)
}

/// Deletes the listed members, or with `keep` set every member NOT listed.
async fn delete_members(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &str,
    group_id: &str,
    ids: &[String],
    keep: bool,
) -> Result<Vec<String>, StoreError> {
    if ids.is_empty() && !keep {
        return Ok(Vec::new());
    }
    let sql = if keep {
        "DELETE FROM scim_group_members WHERE tenant = ?1 AND group_id = ?2 AND member_id NOT IN (SELECT value FROM json_each(?3)) RETURNING member_id"
    } else {
        "DELETE FROM scim_group_members WHERE tenant = ?1 AND group_id = ?2 AND member_id IN (SELECT value FROM json_each(?3)) RETURNING member_id"
    };
    let removed: Vec<String> = sqlx::query_scalar(sql)
        .bind(tenant)
        .bind(group_id)
        .bind(serde_json::to_string(ids)?)
        .fetch_all(&mut **tx)
        .await?;
    Ok(removed)
}

fn bind_scalar<'q>(
    q: sqlx::query::QueryScalar<'q, Sqlite, i64, <Sqlite as sqlx::Database>::Arguments>,
    p: &SqlParam,
) -> sqlx::query::QueryScalar<'q, Sqlite, i64, <Sqlite as sqlx::Database>::Arguments> {
    match p {
        SqlParam::Text(s) => q.bind(s.clone()),
        SqlParam::Int(i) => q.bind(*i),
        SqlParam::Real(f) => q.bind(*f),
        SqlParam::Bool(b) => q.bind(*b),
    }
}

fn bind_row<'q>(
    q: sqlx::query::QueryAs<'q, Sqlite, RowTuple, <Sqlite as sqlx::Database>::Arguments>,
    p: &SqlParam,
) -> sqlx::query::QueryAs<'q, Sqlite, RowTuple, <Sqlite as sqlx::Database>::Arguments> {
    match p {
        SqlParam::Text(s) => q.bind(s.clone()),
        SqlParam::Int(i) => q.bind(*i),
        SqlParam::Real(f) => q.bind(*f),
        SqlParam::Bool(b) => q.bind(*b),
    }
}
