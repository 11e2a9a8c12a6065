//! The database under test: a fresh SQLite file, or with `TEST_DATABASE_URL=postgres://…` a
//! fresh PostgreSQL database per test (created through that URL's connection, dropped when the
//! test lets go of it), so the same test cases run on both backends. Raw SQL helpers for the
//! few assertions that read tables directly; their statements are plain SQL both accept.

use std::str::FromStr;

use sqlx::Connection;

/// The PostgreSQL server to test against, if any.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
}

#[allow(dead_code)]
pub fn is_postgres() -> bool {
    postgres_admin_url().is_some()
}

/// A database for one test. Dropping it removes the SQLite directory or the PostgreSQL database.
pub struct TestDb {
    pub url: String,
    /// A scratch directory for the test's other files (configs, logs); also holds the SQLite file.
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

pub async fn fresh() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    match postgres_admin_url() {
        None => TestDb {
            url: format!("sqlite://{}", dir.path().join("test.db").display()),
            dir,
            pg: None,
        },
        Some(admin) => {
            let name = format!("cicb_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("connect to TEST_DATABASE_URL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let _ = conn.close().await;
            TestDb {
                url: with_database(&admin, &name),
                dir,
                pg: Some((admin, name)),
            }
        }
    }
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    format!("{}/{name}{query}", &base[..host_end])
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else { return };
        // Drop is synchronous and may run inside the test's runtime: drop the database from a
        // thread of its own. FORCE ends the sessions the test's daemon may still hold.
        let t = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = t.join();
    }
}

enum Conn {
    Sqlite(sqlx::SqliteConnection),
    Pg(sqlx::PgConnection),
}

async fn connect(url: &str) -> Result<Conn, sqlx::Error> {
    if url.starts_with("sqlite:") {
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
        Ok(Conn::Sqlite(sqlx::SqliteConnection::connect_with(&opts).await?))
    } else {
        Ok(Conn::Pg(sqlx::PgConnection::connect(url).await?))
    }
}

macro_rules! on_both {
    ($url:expr, |$c:ident| $body:expr) => {{
        match connect($url).await? {
            Conn::Sqlite(mut $c) => {
                let r = $body;
                let _ = $c.close().await;
                r
            }
            Conn::Pg(mut $c) => {
                let r = $body;
                let _ = $c.close().await;
                r
            }
        }
    }};
}

/// Rows of (text, count).
pub async fn pairs(url: &str, sql: &'static str) -> Vec<(String, i64)> {
    try_pairs(url, sql).await.expect("query")
}

async fn try_pairs(url: &str, sql: &'static str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    Ok(on_both!(url, |c| sqlx::query_as(sql).fetch_all(&mut c).await?))
}

/// The first column of every row, as text.
pub async fn strings(url: &str, sql: &'static str) -> Vec<String> {
    let rows: Result<Vec<String>, sqlx::Error> =
        async { Ok(on_both!(url, |c| sqlx::query_scalar(sql).fetch_all(&mut c).await?)) }.await;
    rows.expect("query")
}

/// One integer (a count).
pub async fn try_count(url: &str, sql: &'static str) -> Result<i64, sqlx::Error> {
    Ok(on_both!(url, |c| sqlx::query_scalar(sql).fetch_one(&mut c).await?))
}

pub async fn count(url: &str, sql: &'static str) -> i64 {
    try_count(url, sql).await.expect("query")
}

/// Two integers of one row.
pub async fn two_counts(url: &str, sql: &'static str) -> (i64, i64) {
    let r: Result<(i64, i64), sqlx::Error> =
        async { Ok(on_both!(url, |c| sqlx::query_as(sql).fetch_one(&mut c).await?)) }.await;
    r.expect("query")
}

/// Runs a statement; returns the rows affected.
pub async fn execute(url: &str, sql: &'static str) -> u64 {
    let r: Result<u64, sqlx::Error> = async {
        Ok(on_both!(url, |c| sqlx::query(sql)
            .execute(&mut c)
            .await?
            .rows_affected()))
    }
    .await;
    r.expect("statement")
}
