//! The store: SCIM resources, membership and the outbox, behind one interface.
//!
//! Every write runs in one database transaction that also records the Identity Center
//! operations it implies (the outbox), so a change is either stored with its operations or not
//! at all. SQLite is the embedded backend: WAL mode, one dedicated writer connection (SQLite
//! allows one writer at a time; queueing writers in the pool avoids SQLITE_BUSY on lock
//! upgrades) and a pool of read connections. PostgreSQL is the backend for several replicas
//! sharing one database: a pool of connections, each request its own transaction, operations
//! claimed with `FOR UPDATE SKIP LOCKED`, and one engine leader elected with an advisory lock
//! (see [`leader`]).

pub mod audit;
pub mod health;
pub mod leader;
pub mod ops;
mod organization;
mod outbox;
mod postgres;
mod resources;
pub(crate) mod sql;
mod sqlite;
mod writes;

use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::scim::filter::{AttrPath, Filter};
use crate::scim::schema::ResourceKind;

pub use audit::{AuditEntry, AuditQuery, AuditRecord, Origin, Verification};
pub use ops::{
    Alarm, CicLink, Finish, LinkWrite, Op, OpError, OpKind, OpState, OpStatus, QueueCount, TaskRow, TaskStatus,
    TenantSnapshot, Write,
};
pub use organization::OrganizationRow;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("version mismatch")]
    PreconditionFailed,
    #[error("unknown members: {0:?}")]
    UnknownMembers(Vec<String>),
    /// A filter the store cannot translate into SQL (an attribute it does not index, an
    /// operator that does not apply to the attribute's type).
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// A value from the request that the store cannot hold or order by (U+0000 on PostgreSQL,
    /// a `sortBy` it cannot sort on): the request's fault, not the store's.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// The database cannot commit now (disk full, read-only, locked elsewhere, down, cut off):
    /// nothing was stored, and the same request can succeed later.
    #[error("the store cannot commit: {reason} ({source})")]
    Unavailable { reason: &'static str, source: sqlx::Error },
    /// A transient conflict between transactions (PostgreSQL serialization failure or deadlock):
    /// nothing was stored; retrying is safe. Unlike `Unavailable`, the store is healthy.
    #[error("transaction conflict, retry: {0}")]
    Busy(sqlx::Error),
    #[error("database: {0}")]
    Db(sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored document is not valid JSON: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("stored data is not valid: {0}")]
    Invalid(String),
}

/// Why [`Store::patch`] wrote nothing: the store failed, or the caller's change function
/// refused the change with its own error (the store does not know what it means).
#[derive(Debug)]
pub enum PatchError<E> {
    Store(StoreError),
    Rejected(E),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match classify(&e) {
            Fault::Unavailable(reason) => StoreError::Unavailable { reason, source: e },
            Fault::Busy => StoreError::Busy(e),
            Fault::Nul => StoreError::InvalidValue("values must not contain the NUL character (U+0000)".into()),
            Fault::Other => StoreError::Db(e),
        }
    }
}

impl StoreError {
    /// Whether the same request may succeed later without change (answered 503 + Retry-After).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. } | StoreError::Busy(_))
    }
}

enum Fault {
    Unavailable(&'static str),
    Busy,
    /// PostgreSQL refuses U+0000 in text and jsonb (22021 for a text parameter, 22P05 for a
    /// `\u0000` escape in jsonb), which SQLite stores. Only a client sends it (a SCIM value, a
    /// filter, a member id), so it is the client's error, wherever it meets the database.
    Nul,
    Other,
}

/// Sorts a database error into "the store cannot commit now" (an outage: the cause is outside
/// the request and goes away by itself or by an operator's hand), a transient conflict, or
/// anything else (a bug or bad data: 500).
fn classify(e: &sqlx::Error) -> Fault {
    use sqlx::Error as E;
    match e {
        E::Io(_) | E::Tls(_) => Fault::Unavailable("the database connection failed"),
        E::PoolTimedOut => Fault::Unavailable("no database connection became free in time"),
        E::PoolClosed => Fault::Unavailable("the store is shutting down"),
        E::WorkerCrashed => Fault::Unavailable("the database connection's worker stopped"),
        // PostgreSQL's protocol errors here mean a connection cut mid-message.
        E::Protocol(_) => Fault::Unavailable("the database connection failed"),
        E::Database(d) => {
            if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // Primary result codes (https://sqlite.org/rescode.html); extended codes keep
                // the primary one in the low byte.
                let code = d.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0) & 0xff;
                return match code {
                    5 | 6 => Fault::Unavailable("the database is locked by another process (SQLITE_BUSY)"),
                    7 => Fault::Unavailable("SQLite is out of memory (SQLITE_NOMEM)"),
                    8 => Fault::Unavailable("the database file is read-only (SQLITE_READONLY)"),
                    10 => Fault::Unavailable("disk I/O error (SQLITE_IOERR)"),
                    13 => Fault::Unavailable("the disk is full (SQLITE_FULL)"),
                    14 => Fault::Unavailable("the database file cannot be opened (SQLITE_CANTOPEN)"),
                    _ => Fault::Other,
                };
            }
            let state = d.code().unwrap_or_default();
            match state.as_ref() {
                "40001" | "40P01" => Fault::Busy,
                "22021" | "22P05" => Fault::Nul,
                "25006" => Fault::Unavailable("PostgreSQL accepts no writes (a read-only transaction or a standby)"),
                "53100" => Fault::Unavailable("PostgreSQL's disk is full"),
                "57P01" | "57P02" | "57P03" => Fault::Unavailable("PostgreSQL is shutting down or starting up"),
                "58030" => Fault::Unavailable("PostgreSQL reports an I/O error"),
                s if s.starts_with("08") => Fault::Unavailable("the connection to PostgreSQL failed"),
                s if s.starts_with("53") => Fault::Unavailable("PostgreSQL is out of resources"),
                _ => Fault::Other,
            }
        }
        _ => Fault::Other,
    }
}

/// A stored resource.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub doc: Map<String, Value>,
    pub version: i64,
    pub created: String,
    pub last_modified: String,
    /// A user's groups when the query loaded them with the row (one statement instead of a
    /// second round trip on the hot `userName eq` lookup); `None` when not loaded.
    pub links: Option<Vec<Link>>,
}

/// A member of a group, or a group of a user, with the name shown as `display`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub id: String,
    pub display: String,
}

/// `If-Match` precondition (RFC 7232 §3.1 with SCIM weak ETags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Versions(Vec<i64>),
}

impl IfMatch {
    /// Parses `*`, `W/"3"`, `"3"` or a comma-separated list. Tags that are not ours match nothing.
    pub fn parse(header: &str) -> IfMatch {
        if header.trim() == "*" {
            return IfMatch::Any;
        }
        let versions = header
            .split(',')
            .filter_map(|t| {
                let t = t.trim();
                let t = t.strip_prefix("W/").unwrap_or(t);
                t.trim_matches('"').parse::<i64>().ok()
            })
            .collect();
        IfMatch::Versions(versions)
    }

    pub fn allows(&self, version: i64) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Versions(v) => v.contains(&version),
        }
    }
}

/// One page of a list request.
#[derive(Debug, Clone)]
pub struct ListQuery<'a> {
    pub filter: Option<&'a Filter>,
    pub sort_by: Option<&'a AttrPath>,
    pub descending: bool,
    /// 0-based offset (SCIM `startIndex` - 1).
    pub offset: i64,
    pub limit: i64,
    /// Load each user's groups with the page (ignored for groups).
    pub with_links: bool,
}

/// The store: SQLite or PostgreSQL behind the same methods.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// What a replace writes: the new document, and for groups the new member list if given.
pub struct Replacement {
    pub doc: Map<String, Value>,
    pub members: Option<Vec<String>>,
}

impl Store {
    /// Opens the database named by `url` and applies pending migrations. `connections` is the
    /// read pool's size on SQLite (writes use one dedicated connection) and the whole pool's on
    /// PostgreSQL; `sync_full` is SQLite's `synchronous` pragma.
    pub async fn connect(url: &str, connections: u32, sync_full: bool) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            return Ok(Store::Sqlite(SqliteStore::connect(url, connections, sync_full).await?));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Store::Postgres(PgStore::connect(url, connections).await?));
        }
        Err(StoreError::Db(sqlx::Error::Configuration(
            format!(
                "database URL scheme not supported (sqlite: or postgres://): {}",
                url.split(':').next().unwrap_or_default()
            )
            .into(),
        )))
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let r = sql::stmt("SELECT 1").execute(self.read()).await;
        self.observe(r.map(drop), false)
    }

    /// Whether writes commit now (see [`health`]).
    pub fn health(&self) -> &health::StoreHealth {
        match self {
            Store::Sqlite(s) => &s.health,
            Store::Postgres(s) => &s.health,
        }
    }

    /// Records what a call tells about the store's health: a transient failure starts (or
    /// continues) an outage; a write that committed (`wrote`) ends it.
    fn observe<T, E: Into<StoreError>>(&self, r: Result<T, E>, wrote: bool) -> Result<T, StoreError> {
        let r = r.map_err(Into::into);
        match &r {
            Ok(_) if wrote => self.health().committed(),
            Err(StoreError::Unavailable { reason, .. }) => self.health().failed(reason),
            _ => {}
        }
        r
    }

    /// A SCIM write's outcome: also counts the writes refused for the store's sake.
    fn observe_scim_write<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if matches!(&r, Err(e) if e.is_transient()) {
            self.health().count_refused_write();
        }
        // A write refused for the request's own sake (a conflict, a bad member) still shows
        // that the database answers, but not that it commits: only success ends an outage.
        self.observe(r, true)
    }

    /// One-row write in its own transaction, as `owner` (this process), to learn whether the
    /// store commits (see [`health`]).
    pub async fn probe_write(&self, owner: &str) -> Result<(), StoreError> {
        let r = sql::stmt(
            "INSERT INTO store_probe (id, at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        )
        .bind(owner)
        .bind(self.now_s())
        .execute(self.write())
        .await;
        self.observe(r.map(drop), true)
    }

    /// Keeps [`health`] current until `shutdown`: every second while the store cannot commit
    /// (so recovery is noticed with no client writing), every `idle` otherwise (so an outage
    /// is noticed, and readiness turns, before a client's write meets it).
    pub async fn watch_health(self, owner: String, idle: Duration, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            // First at start-up: a store that cannot commit (a read-only file) is not ready.
            match tokio::time::timeout(Duration::from_secs(15), self.probe_write(&owner)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.is_transient() => tracing::debug!(error = %e, "write probe failed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "write probe failed"),
                Err(_) => self.health().failed("a one-row write did not finish within 15 s"),
            }
            let wait = if self.health().writable() {
                idle
            } else {
                Duration::from_secs(1)
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(s) => s.close().await,
        }
    }

    /// Claims up to `limit` due operations of `tenants`, oldest first, one at a time per
    /// resource (see `SqliteStore::claim` and `PgStore::claim`).
    pub async fn claim(
        &self,
        owner: &str,
        tenants: &[String],
        now: OffsetDateTime,
        lease: Duration,
        limit: i64,
        exclude_kinds: &[&str],
    ) -> Result<Vec<Op>, StoreError> {
        let r = match self {
            Store::Sqlite(s) => s.claim(owner, tenants, now, lease, limit, exclude_kinds).await,
            Store::Postgres(s) => s.claim(owner, tenants, now, lease, limit, exclude_kinds).await,
        };
        self.observe(r, false)
    }

    /// This store with every timestamp it writes read from `clock` (the engine's: one clock
    /// for the whole daemon, so that tests can set it).
    pub fn with_clock(&self, clock: crate::tencent::clock::SharedClock) -> Store {
        match self {
            Store::Sqlite(s) => Store::Sqlite(SqliteStore { clock, ..s.clone() }),
            Store::Postgres(s) => Store::Postgres(PgStore { clock, ..s.clone() }),
        }
    }

    /// Now, as this store's clock tells it, in the stored format.
    pub(crate) fn now_s(&self) -> String {
        let clock = match self {
            Store::Sqlite(s) => &s.clock,
            Store::Postgres(s) => &s.clock,
        };
        format_time(clock.now())
    }

    /// Which SQL the statements are written in.
    pub(crate) fn dialect(&self) -> sql::Dialect {
        match self {
            Store::Sqlite(_) => sql::Dialect::Sqlite,
            Store::Postgres(_) => sql::Dialect::Postgres,
        }
    }

    /// Where reads run: SQLite's read-only pool, PostgreSQL's pool.
    pub(crate) fn read(&self) -> sql::Exec<'_> {
        match self {
            Store::Sqlite(s) => sql::Exec::SqlitePool(&s.read),
            Store::Postgres(s) => sql::Exec::PgPool(&s.pool),
        }
    }

    /// Where single-statement writes run: SQLite's one writer connection, PostgreSQL's pool.
    pub(crate) fn write(&self) -> sql::Exec<'_> {
        match self {
            Store::Sqlite(s) => sql::Exec::SqlitePool(&s.write),
            Store::Postgres(s) => sql::Exec::PgPool(&s.pool),
        }
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a
    /// deferred transaction that read before another process (a CLI command, a second
    /// connection) committed fails its first write with SQLITE_BUSY at once, which the busy
    /// timeout does not wait out; an immediate one waits its turn.
    pub(crate) async fn begin(&self) -> Result<sql::Tx<'static>, sqlx::Error> {
        Ok(match self {
            Store::Sqlite(s) => sql::Tx::sqlite(s.write.begin_with(sqlite::BEGIN_WRITE).await?),
            Store::Postgres(s) => sql::Tx::pg(s.pool.begin().await?),
        })
    }

    /// A read-only transaction whose statements all see one snapshot. SQLite's read
    /// transactions do; PostgreSQL's default (READ COMMITTED) takes a new snapshot per
    /// statement, so it is asked for REPEATABLE READ.
    pub(crate) async fn begin_snapshot(&self) -> Result<sql::Tx<'static>, sqlx::Error> {
        Ok(match self {
            Store::Sqlite(s) => sql::Tx::sqlite(s.read.begin().await?),
            Store::Postgres(s) => {
                let mut tx = s.pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                sql::Tx::pg(tx)
            }
        })
    }

    /// The migrations embedded for this database.
    pub(crate) fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
        static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
        match self {
            Store::Sqlite(_) => &SQLITE,
            Store::Postgres(_) => &POSTGRES,
        }
    }
}

/// A time as stored: RFC 3339 UTC with exactly six fractional digits, so that text order is
/// time order in both databases.
pub fn format_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Indexed columns derived from a document.
pub(crate) struct Columns {
    pub name: String,
    pub name_lower: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
}

impl Columns {
    pub fn of(kind: ResourceKind, doc: &Map<String, Value>) -> Columns {
        let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        let name = match kind {
            ResourceKind::User => s("userName").unwrap_or_default(),
            ResourceKind::Group => s("displayName").unwrap_or_default(),
        };
        Columns {
            name_lower: name.to_lowercase(),
            name,
            external_id: s("externalId"),
            display_name: s("displayName"),
            active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_parses_weak_and_strong_tags() {
        assert!(IfMatch::parse("W/\"3\"").allows(3));
        assert!(IfMatch::parse("\"2\", W/\"3\"").allows(3));
        assert!(!IfMatch::parse("W/\"3\"").allows(4));
        assert!(IfMatch::parse("*").allows(9));
        assert!(!IfMatch::parse("W/\"abc\"").allows(1));
    }

    #[test]
    fn time_format_is_fixed_width() {
        let t = time::macros::datetime!(2026-01-02 03:04:05.000007 UTC);
        assert_eq!(format_time(t), "2026-01-02T03:04:05.000007Z");
    }
}
