//! One engine leader per database.
//!
//! Identity Center's rate limits are per account and action, so only one process may run the
//! engine against a database: several replicas each with their own limiter would together
//! exceed the limit. On PostgreSQL the leader is the session holding an advisory lock on a
//! connection of its own (outside the pool, so the lock lives exactly as long as that one
//! session); every replica serves SCIM, and followers keep trying to take the lock. On SQLite
//! the database is one process's file: that process always leads.

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::{Store, StoreError};

/// The advisory lock key of the engine leader ("cicb"; below 2^31, so PostgreSQL records it
/// as `classid = 0, objid = key, objsubid = 1` in `pg_locks`). Advisory locks are scoped to
/// one database, so deployments sharing a server do not contend.
pub const LEADER_LOCK_KEY: i64 = 0x6369_6362;

/// How often the leader confirms it still holds the lock.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How long a leadership check may take before the connection counts as lost: a connection
/// that hangs (a network partition sends no reset) must stop the workers as surely as one
/// that fails.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest a leader whose lock is gone may still be working before it notices (one check
/// interval and one check timing out). The server frees the lock as soon as the session ends,
/// so a new leader that finds operations still running elsewhere waits this long before
/// calling Identity Center: the two never send together, and the rate limit holds across
/// the take-over.
pub const TAKEOVER_GRACE: Duration = Duration::from_secs(4);

/// The server ends the lock's session when it has been idle this long (PostgreSQL 14 and
/// later), which releases the lock of a leader that vanished without closing its connection
/// (a partition, a frozen host) long before TCP keepalives would. A live leader checks far
/// more often than this.
const SERVER_IDLE_TIMEOUT: &str = "15s";

/// This process leads the engine while it holds a `Leadership`.
pub enum Leadership {
    /// SQLite: the only process on the database.
    Always,
    /// PostgreSQL: the dedicated session that holds [`LEADER_LOCK_KEY`].
    Pg(PgConnection),
}

impl Store {
    /// Tries once to become the engine leader; `None` while another process leads.
    pub async fn try_lead(&self) -> Result<Option<Leadership>, StoreError> {
        let options = match self {
            Store::Sqlite(_) => return Ok(Some(Leadership::Always)),
            Store::Postgres(s) => (*s.options).clone(),
        };
        let mut conn = PgConnection::connect_with(&options.application_name("cic-bridge leader")).await?;
        let setting = format!("SET idle_session_timeout = '{SERVER_IDLE_TIMEOUT}'");
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(setting)).execute(&mut conn).await {
            // PostgreSQL 13 and earlier: a vanished leader's lock then lasts until the server's
            // TCP keepalive gives up on the session.
            tracing::warn!(error = %e, "idle_session_timeout not available; a vanished leader is noticed later");
        }
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut conn)
            .await?;
        if locked {
            Ok(Some(Leadership::Pg(conn)))
        } else {
            let _ = conn.close().await;
            Ok(None)
        }
    }
}

impl Leadership {
    /// Whether another process may have led until just now (PostgreSQL only).
    pub fn shared(&self) -> bool {
        matches!(self, Leadership::Pg(_))
    }

    /// Confirms that this process still leads: on PostgreSQL, that the lock's session is alive
    /// and still holds the lock. An error means leadership is lost (the server may already
    /// have given the lock to another replica).
    pub async fn check(&mut self) -> Result<(), StoreError> {
        let Leadership::Pg(conn) = self else {
            return Ok(());
        };
        let held = tokio::time::timeout(
            CHECK_TIMEOUT,
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() \
                 AND granted AND classid = 0 AND objid::bigint = $1 AND objsubid = 1)",
            )
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut *conn),
        )
        .await;
        match held {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(StoreError::Invalid("the leader lock is no longer held".into())),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(StoreError::Invalid(format!(
                "the leader lock's connection did not answer within {} s",
                CHECK_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Gives leadership up (graceful shutdown): closing the session releases the lock at once.
    pub async fn release(self) {
        if let Leadership::Pg(conn) = self {
            let _ = conn.close().await;
        }
    }
}
