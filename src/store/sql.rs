//! The statements' common ground: one SQL text for both databases, run on either.
//!
//! Each statement is written once, with `$N` placeholders (SQLite reads `$N` as the N-th
//! parameter too), and what truly differs between the two databases comes from [`Dialect`]
//! (list parameters, the `doc` column's type, a few function names). Values are collected as
//! [`Arg`]s and bound by the backend that runs the statement, so a list parameter becomes a
//! JSON array for SQLite's `json_each` and a `text[]` for PostgreSQL's `ANY`.
//!
//! Why not generic functions over `sqlx::Database`: every function would have to restate
//! higher-ranked bounds (`for<'c> &'c mut DB::Connection: Executor<'c>`, `Encode`/`Type`/
//! `Decode` for each value type) that Rust does not imply from a trait, and `sqlx::Any` has
//! neither arrays nor jsonb. Two concrete backends behind one enum keep the shared code free of
//! bounds: rows and scalars only need to decode on both ([`Rows`], [`Scalar`]).

use std::borrow::Cow;

use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{Arguments, AssertSqlSafe, Postgres, Sqlite, Transaction};

pub use crate::scim::filter::Dialect;

/// A value bound to a statement's next placeholder.
#[derive(Debug, Clone)]
pub enum Arg<'a> {
    Text(Cow<'a, str>),
    OptText(Option<Cow<'a, str>>),
    Int(i64),
    OptInt(Option<i64>),
    Real(f64),
    Bool(bool),
    /// A list of strings: a JSON array for SQLite (`json_each`), `text[]` for PostgreSQL.
    List(Vec<Cow<'a, str>>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Cow::Borrowed(v))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Cow::Borrowed(v))
    }
}
impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Cow::Owned(v))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::OptText(v.map(Cow::Borrowed))
    }
}
impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::OptText(v.as_deref().map(Cow::Borrowed))
    }
}
impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        Arg::OptText(v.map(Cow::Owned))
    }
}
impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::OptInt(v)
    }
}
impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl From<f64> for Arg<'_> {
    fn from(v: f64) -> Self {
        Arg::Real(v)
    }
}
impl<'a> From<&'a [String]> for Arg<'a> {
    fn from(v: &'a [String]) -> Self {
        Arg::List(v.iter().map(|s| Cow::Borrowed(s.as_str())).collect())
    }
}
impl<'a> From<&'a Vec<String>> for Arg<'a> {
    fn from(v: &'a Vec<String>) -> Self {
        Arg::List(v.iter().map(|s| Cow::Borrowed(s.as_str())).collect())
    }
}
impl<'a> From<&'a [&'a str]> for Arg<'a> {
    fn from(v: &'a [&'a str]) -> Self {
        Arg::List(v.iter().map(|s| Cow::Borrowed(*s)).collect())
    }
}

/// A row type both backends decode (tuples of `String`, `i64`, `bool`, `Option<…>`, or a
/// `#[derive(FromRow)]` struct of them).
pub trait Rows: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Rows for T where T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {}

/// A single value both backends decode.
pub trait Scalar:
    for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
    + Send
    + Unpin
{
}
impl<T> Scalar for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + Send
        + Unpin
{
}

/// One statement and its values, in placeholder order.
#[derive(Debug, Clone)]
pub struct Stmt<'a> {
    sql: Cow<'a, str>,
    args: Vec<Arg<'a>>,
}

/// A statement over `sql` (`$N` placeholders).
pub fn stmt<'a>(sql: impl Into<Cow<'a, str>>) -> Stmt<'a> {
    Stmt {
        sql: sql.into(),
        args: Vec::new(),
    }
}

impl<'a> Stmt<'a> {
    /// Binds the next placeholder.
    pub fn bind(mut self, v: impl Into<Arg<'a>>) -> Self {
        self.args.push(v.into());
        self
    }

    /// Binds the next placeholders to `args`, in order.
    pub fn bind_all(mut self, args: impl IntoIterator<Item = Arg<'a>>) -> Self {
        self.args.extend(args);
        self
    }

    fn sqlite_args(&self) -> Result<SqliteArguments, sqlx::Error> {
        let mut out = SqliteArguments::default();
        for a in &self.args {
            let r = match a {
                Arg::Text(s) => out.add(s.to_string()),
                Arg::OptText(s) => out.add(s.as_ref().map(|s| s.to_string())),
                Arg::Int(i) => out.add(*i),
                Arg::OptInt(i) => out.add(*i),
                Arg::Real(f) => out.add(*f),
                Arg::Bool(b) => out.add(*b),
                Arg::List(v) => out.add(serde_json::to_string(v).map_err(|e| sqlx::Error::Encode(e.into()))?),
            };
            r.map_err(sqlx::Error::Encode)?;
        }
        Ok(out)
    }

    fn pg_args(&self) -> Result<PgArguments, sqlx::Error> {
        let mut out = PgArguments::default();
        for a in &self.args {
            let r = match a {
                Arg::Text(s) => out.add(s.as_ref()),
                Arg::OptText(s) => out.add(s.as_deref()),
                Arg::Int(i) => out.add(*i),
                Arg::OptInt(i) => out.add(*i),
                Arg::Real(f) => out.add(*f),
                Arg::Bool(b) => out.add(*b),
                Arg::List(v) => out.add(v.iter().map(|s| s.as_ref()).collect::<Vec<&str>>()),
            };
            r.map_err(sqlx::Error::Encode)?;
        }
        Ok(out)
    }

    fn text(&self) -> AssertSqlSafe<String> {
        AssertSqlSafe(self.sql.to_string())
    }

    /// Runs the statement; the number of rows it changed.
    pub async fn execute(&self, on: Exec<'_>) -> Result<u64, sqlx::Error> {
        Ok(match on {
            Exec::SqlitePool(p) => sqlx::query_with(self.text(), self.sqlite_args()?)
                .execute(p)
                .await?
                .rows_affected(),
            Exec::Sqlite(c) => sqlx::query_with(self.text(), self.sqlite_args()?)
                .execute(c)
                .await?
                .rows_affected(),
            Exec::PgPool(p) => sqlx::query_with(self.text(), self.pg_args()?)
                .execute(p)
                .await?
                .rows_affected(),
            Exec::Pg(c) => sqlx::query_with(self.text(), self.pg_args()?)
                .execute(c)
                .await?
                .rows_affected(),
        })
    }

    pub async fn fetch_all<R: Rows>(&self, on: Exec<'_>) -> Result<Vec<R>, sqlx::Error> {
        match on {
            Exec::SqlitePool(p) => sqlx::query_as_with(self.text(), self.sqlite_args()?).fetch_all(p).await,
            Exec::Sqlite(c) => sqlx::query_as_with(self.text(), self.sqlite_args()?).fetch_all(c).await,
            Exec::PgPool(p) => sqlx::query_as_with(self.text(), self.pg_args()?).fetch_all(p).await,
            Exec::Pg(c) => sqlx::query_as_with(self.text(), self.pg_args()?).fetch_all(c).await,
        }
    }

    pub async fn fetch_optional<R: Rows>(&self, on: Exec<'_>) -> Result<Option<R>, sqlx::Error> {
        match on {
            Exec::SqlitePool(p) => {
                sqlx::query_as_with(self.text(), self.sqlite_args()?)
                    .fetch_optional(p)
                    .await
            }
            Exec::Sqlite(c) => {
                sqlx::query_as_with(self.text(), self.sqlite_args()?)
                    .fetch_optional(c)
                    .await
            }
            Exec::PgPool(p) => {
                sqlx::query_as_with(self.text(), self.pg_args()?)
                    .fetch_optional(p)
                    .await
            }
            Exec::Pg(c) => {
                sqlx::query_as_with(self.text(), self.pg_args()?)
                    .fetch_optional(c)
                    .await
            }
        }
    }

    /// The first column of every row.
    pub async fn scalars<T: Scalar>(&self, on: Exec<'_>) -> Result<Vec<T>, sqlx::Error> {
        let rows: Vec<(T,)> = self.fetch_all(on).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The first column of the first row, if there is a row.
    pub async fn scalar_optional<T: Scalar>(&self, on: Exec<'_>) -> Result<Option<T>, sqlx::Error> {
        let row: Option<(T,)> = self.fetch_optional(on).await?;
        Ok(row.map(|r| r.0))
    }

    /// The first column of the one row the statement returns.
    pub async fn scalar<T: Scalar>(&self, on: Exec<'_>) -> Result<T, sqlx::Error> {
        self.scalar_optional(on).await?.ok_or(sqlx::Error::RowNotFound)
    }
}

/// Where a statement runs: a pool (its own implicit transaction) or an open transaction's
/// connection.
pub enum Exec<'c> {
    SqlitePool(&'c SqlitePool),
    Sqlite(&'c mut SqliteConnection),
    PgPool(&'c PgPool),
    Pg(&'c mut PgConnection),
}

/// An open transaction on either database. Dropped without `commit`, it rolls back.
///
/// It also carries the cause of what it queues: the audit record written last in it (see
/// `audit::record`), which every operation it records names in its `cause` column.
pub struct Tx<'t> {
    inner: TxInner<'t>,
    cause: Option<i64>,
}

enum TxInner<'t> {
    Sqlite(Transaction<'t, Sqlite>),
    Pg(Transaction<'t, Postgres>),
}

impl<'t> Tx<'t> {
    pub fn sqlite(t: Transaction<'t, Sqlite>) -> Tx<'t> {
        Tx {
            inner: TxInner::Sqlite(t),
            cause: None,
        }
    }

    pub fn pg(t: Transaction<'t, Postgres>) -> Tx<'t> {
        Tx {
            inner: TxInner::Pg(t),
            cause: None,
        }
    }

    /// The audit record (its seq) that the operations queued from now on are caused by.
    pub fn cause(&self) -> Option<i64> {
        self.cause
    }

    pub fn set_cause(&mut self, seq: i64) {
        self.cause = Some(seq);
    }

    /// Runs statements inside this transaction.
    pub fn on(&mut self) -> Exec<'_> {
        match &mut self.inner {
            TxInner::Sqlite(t) => Exec::Sqlite(&mut *t),
            TxInner::Pg(t) => Exec::Pg(&mut *t),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.inner {
            TxInner::Sqlite(_) => Dialect::Sqlite,
            TxInner::Pg(_) => Dialect::Postgres,
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await,
            TxInner::Pg(t) => t.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.inner {
            TxInner::Sqlite(t) => t.rollback().await,
            TxInner::Pg(t) => t.rollback().await,
        }
    }

    /// A savepoint inside this transaction (sqlx's nested transaction), with its cause.
    pub async fn savepoint(&mut self) -> Result<Tx<'_>, sqlx::Error> {
        let inner = match &mut self.inner {
            TxInner::Sqlite(t) => TxInner::Sqlite(sqlx::Acquire::begin(&mut **t).await?),
            TxInner::Pg(t) => TxInner::Pg(sqlx::Acquire::begin(&mut **t).await?),
        };
        Ok(Tx {
            inner,
            cause: self.cause,
        })
    }
}

/// SQL that differs between the two databases, for statements written once.
impl Dialect {
    /// `col` in a condition that must not choose the index (SQLite's `+col`). SQLite keeps no
    /// statistics unless ANALYZE runs, and between `operations_state (tenant, state)` and
    /// `operations_key (tenant, resource_key, id)` it took the first for "is a sync of this
    /// resource pending": with 100,000 pending operations (a shadow tenant, a first import)
    /// every write scanned them all (59 PUT/s instead of 800; bench/report). PostgreSQL
    /// keeps statistics and needs no hint.
    pub fn unindexed(self, col: &str) -> String {
        match self {
            Dialect::Sqlite => format!("+{col}"),
            Dialect::Postgres => col.to_owned(),
        }
    }

    /// `col` is one of the strings of list parameter `$n`.
    pub fn in_list(self, col: &str, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("{col} IN (SELECT value FROM json_each(${n}))"),
            Dialect::Postgres => format!("{col} = ANY(${n})"),
        }
    }

    /// `col` is none of the strings of list parameter `$n`.
    pub fn not_in_list(self, col: &str, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("{col} NOT IN (SELECT value FROM json_each(${n}))"),
            Dialect::Postgres => format!("{col} <> ALL(${n})"),
        }
    }

    /// The rows of list parameter `$n`, as a one-column table `value`.
    pub fn list_rows(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("(SELECT value FROM json_each(${n}))"),
            Dialect::Postgres => format!("(SELECT unnest(${n}::text[]) AS value)"),
        }
    }

    /// Text parameter `$n` as a JSON document for the `doc` columns (jsonb on PostgreSQL).
    pub fn json_param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("${n}"),
            Dialect::Postgres => format!("${n}::jsonb"),
        }
    }

    /// A `doc` column read back as text.
    pub fn json_text(self, col: &str) -> String {
        match self {
            Dialect::Sqlite => col.to_owned(),
            Dialect::Postgres => format!("{col}::text"),
        }
    }

    /// A NULL of type text (PostgreSQL needs the type to decode it).
    pub fn null_text(self) -> &'static str {
        match self {
            Dialect::Sqlite => "NULL",
            Dialect::Postgres => "NULL::text",
        }
    }

    /// ` FOR UPDATE` on PostgreSQL; nothing on SQLite, whose single writer needs no row locks.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// ` FOR KEY SHARE` on PostgreSQL (the row cannot be deleted before this transaction
    /// ends); nothing on SQLite.
    pub fn for_key_share(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR KEY SHARE",
        }
    }

    /// The larger of two values.
    pub fn greatest(self, a: &str, b: &str) -> String {
        match self {
            Dialect::Sqlite => format!("max({a}, {b})"),
            Dialect::Postgres => format!("greatest({a}, {b})"),
        }
    }
}
