//! PostgreSQL backend: the engine for several replicas sharing one database.
//!
//! The statements are shared with SQLite (`resources.rs`, `outbox.rs`); here are what only
//! PostgreSQL has: its connection pool and the claim with `FOR UPDATE SKIP LOCKED`. PostgreSQL takes
//! concurrent writers itself, so every request runs its own transaction on a pooled connection
//! (no dedicated writer, no group commit). A write that reads a resource first locks its row
//! (`FOR UPDATE`), so concurrent writes to one resource serialise and their outbox rows get ids
//! in commit order; uniqueness of names is the unique indexes', enforced across replicas.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use time::OffsetDateTime;

use super::StoreError;
use super::ops::{CLAIMED_COLUMNS, ClaimedRow, Op, ts};
use super::sql::{Exec, stmt};

#[derive(Clone)]
pub struct PgStore {
    pub(super) pool: PgPool,
    /// For the leader lock's dedicated connection (see `leader.rs`).
    pub(super) options: std::sync::Arc<PgConnectOptions>,
    pub(super) health: std::sync::Arc<super::health::StoreHealth>,
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

    pub async fn close(&self) {
        self.pool.close().await;
    }

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
        let rows: Vec<ClaimedRow> = stmt(format!(
            "UPDATE operations SET state = 'running', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE state = 'pending' AND id IN (SELECT o.id FROM operations o \
               WHERE o.state = 'pending' AND o.next_attempt_at <= $3 \
                 AND o.tenant = ANY($4) \
                 AND o.kind <> ALL($6) \
                 AND NOT EXISTS (SELECT 1 FROM operations p WHERE p.tenant = o.tenant AND p.resource_key = o.resource_key \
                   AND p.id <> o.id AND (p.state = 'running' OR (p.id < o.id AND p.state IN ('pending', 'parked', 'held')))) \
               ORDER BY o.id LIMIT $5 FOR UPDATE SKIP LOCKED) \
             RETURNING {CLAIMED_COLUMNS}",
        ))
        .bind(owner)
        .bind(&until)
        .bind(&now_s)
        .bind(tenants)
        .bind(limit)
        .bind(&excluded)
        .fetch_all(Exec::PgPool(&self.pool))
        .await?;
        let mut ops = rows.into_iter().map(Op::try_from).collect::<Result<Vec<_>, _>>()?;
        ops.sort_by_key(|o| o.id);
        Ok(ops)
    }
}
