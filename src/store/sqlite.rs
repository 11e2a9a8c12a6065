//! SQLite backend.

use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use time::OffsetDateTime;

use super::ops::{CLAIMED_COLUMNS, ClaimedRow, Op, ts};
use super::resources::create_in;
use super::sql::{Tx, stmt};
use super::{Row, StoreError};
use crate::scim::schema::ResourceKind;

#[derive(Clone)]
pub struct SqliteStore {
    pub(super) write: SqlitePool,
    pub(super) health: std::sync::Arc<super::health::StoreHealth>,
    /// The clock every timestamp this store writes is read from (see `Store::with_clock`).
    pub(super) clock: crate::tencent::clock::SharedClock,
    pub(super) read: SqlitePool,
    /// Creates go through one task that commits the creates waiting at that moment together
    /// (group commit, see [`group_commit`]).
    pub(super) creates: tokio::sync::mpsc::Sender<CreateJob>,
}

type Created = Result<(Row, i64), StoreError>;

pub(super) struct CreateJob {
    kind: ResourceKind,
    tenant: String,
    doc: Map<String, Value>,
    members: Option<Vec<String>>,
    origin: super::Origin,
    /// When the create was asked for (the store's clock), its `created` time.
    now: String,
    reply: tokio::sync::oneshot::Sender<Created>,
}

/// How write transactions begin: with the write lock (see `Store::begin`).
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// How long a statement waits for another process's lock before SQLITE_BUSY (503).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest number of creates committed together.
const GROUP_COMMIT_MAX: usize = 256;

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
            // Temporary b-trees and statement journals (a multi-row INSERT … SELECT inside a
            // transaction needs one) in memory: by default SQLite creates them as files in
            // /var/tmp or /tmp, which a read-only root filesystem (deploy/kubernetes) does not
            // allow, and the daemon is to write only under its data directory.
            .pragma("temp_store", "memory")
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
            clock: crate::tencent::clock::system_clock(),
            read,
            creates,
        })
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    pub async fn create(
        &self,
        kind: ResourceKind,
        tenant: &str,
        doc: Map<String, Value>,
        members: Option<Vec<String>>,
        origin: &super::Origin,
    ) -> Result<(Row, i64), StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = CreateJob {
            kind,
            tenant: tenant.to_owned(),
            doc,
            members,
            origin: origin.clone(),
            now: ts(self.clock.now()),
            reply,
        };
        let closed = || StoreError::from(sqlx::Error::PoolClosed);
        self.creates.send(job).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Claims up to `limit` due operations of the `tenants` given, oldest first, skipping any
    /// whose key has an earlier operation still unfinished (pending, running, parked, held):
    /// operations on one resource run one at a time and in order.
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
        let rows: Vec<ClaimedRow> = stmt(format!(
            "UPDATE operations SET state = 'running', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, updated_at = $3, \
               waiting_on_task = FALSE \
             WHERE id IN (SELECT o.id FROM operations o \
               WHERE o.state = 'pending' AND o.next_attempt_at <= $3 \
                 AND o.tenant IN (SELECT value FROM json_each($4)) \
                 AND o.kind NOT IN (SELECT value FROM json_each($6)) \
                 AND NOT EXISTS (SELECT 1 FROM operations p WHERE p.tenant = o.tenant AND p.resource_key = o.resource_key \
                   AND p.id < o.id AND p.state IN ('pending', 'running', 'parked', 'held')) \
               ORDER BY o.id LIMIT $5) \
             RETURNING {CLAIMED_COLUMNS}",
        ))
        .bind(owner)
        .bind(&until)
        .bind(&now_s)
        .bind(tenants)
        .bind(limit)
        .bind(&excluded)
        .fetch_all(super::sql::Exec::SqlitePool(&self.write))
        .await?;
        let mut ops = rows.into_iter().map(Op::try_from).collect::<Result<Vec<_>, _>>()?;
        ops.sort_by_key(|o| o.id);
        Ok(ops)
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
            let mut tx = Tx::sqlite(write.begin_with(BEGIN_WRITE).await?);
            for job in jobs.by_ref() {
                let mut sp = tx.savepoint().await?;
                let result = create_in(
                    &mut sp,
                    job.kind,
                    &job.tenant,
                    job.doc,
                    job.members,
                    &job.origin,
                    &job.now,
                )
                .await;
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
