//! The provisioning engine: workers that drain the outbox into Identity Center.
//!
//! One loop claims due operations (with a lease that expires, so a crashed worker's claims
//! come back), runs each in its own task behind a semaphore of `engine.workers` permits, and
//! records the outcome in the operation's row. Every Identity Center call goes through the
//! client's per-action rate limiter. Operations are state-based (see `store::OpKind`), which
//! makes a re-run after a crash or a lost answer safe: creates look the object up first.

pub mod exec;
pub mod explain;
pub mod mapping;
pub mod organization;
mod outcome;
pub mod reconcile;
mod resolve;
pub mod rules;
pub mod schedule;
mod view;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::Rng;
use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::config::{EngineConfig, OnConflict, OnUsernameChange, TenantConfig, TenantMode};
use crate::store::leader::{CHECK_INTERVAL as LEAD_CHECK, Leadership, TAKEOVER_GRACE};
use crate::store::{Finish, Op, OpError, OpKind, OpState, OpStatus, Store, StoreError};
use crate::tencent::clock::SharedClock;
use crate::tencent::{CicClient, CicError, Code, ErrorClass};
use schedule::Backoff;

/// How often a follower tries to become the engine leader.
const LEAD_RETRY: Duration = Duration::from_secs(2);

/// How a term as engine leader ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reign {
    /// Shutdown: claims handed back, lock released.
    Ended,
    /// The lock (its connection) was lost; the workers were stopped.
    Lost,
}

/// A tenant as the engine sees it.
#[derive(Debug, Clone)]
pub struct TenantPolicy {
    pub name: String,
    pub zone_id: String,
    pub on_conflict: OnConflict,
    pub on_username_change: OnUsernameChange,
    pub mode: TenantMode,
}

impl From<&TenantConfig> for TenantPolicy {
    fn from(t: &TenantConfig) -> Self {
        TenantPolicy {
            name: t.name.clone(),
            zone_id: t.zone_id.clone(),
            on_conflict: t.on_conflict,
            on_username_change: t.on_username_change,
            mode: t.mode,
        }
    }
}

/// What an attempt achieved when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The operation is done; `String` is its result.
    Done(String),
    /// Not done yet: run it again after `after`, without counting a failed attempt (another
    /// operation must happen first, or with `on_task` an Identity Center task it started or
    /// follows still runs: the status page's "waiting on a task").
    Again {
        after: Duration,
        note: String,
        on_task: bool,
    },
}

/// Why an attempt did not succeed, before it becomes a [`Finish`].
#[derive(Debug)]
pub enum Failure {
    Cic(CicError),
    Store(StoreError),
    /// Identity Center refused the resource itself (a conflict under `reject`, an invalid
    /// name); the SCIM create is rolled back.
    Refused(OpError),
    /// The destructive-change fuse holds this operation.
    Hold(String),
}

impl From<CicError> for Failure {
    fn from(e: CicError) -> Self {
        Failure::Cic(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

pub fn op_error(e: &CicError) -> OpError {
    match e.api() {
        Some(api) => OpError {
            code: Some(api.code.clone()),
            message: api.message.clone(),
            request_id: Some(api.request_id.clone()),
        },
        None => OpError {
            code: None,
            message: e.to_string(),
            request_id: None,
        },
    }
}

/// Shared by the worker loop, the SCIM handlers (which wake it and wait for creates) and the
/// admin surface.
pub struct Engine {
    pub(crate) store: Store,
    pub(crate) client: Arc<CicClient>,
    pub(crate) tenants: HashMap<String, TenantPolicy>,
    pub(crate) config: EngineConfig,
    pub(crate) clock: SharedClock,
    /// Replaced as a whole on reload (SIGHUP).
    rules: std::sync::RwLock<Arc<rules::Rules>>,
    last_deployment_check: std::sync::Mutex<Option<std::time::Instant>>,
    last_organization_refresh: std::sync::Mutex<Option<std::time::Instant>>,
    pub(crate) manager_uin: Option<u64>,
    pub(crate) deprovision: crate::config::Deprovision,
    /// Role configurations per zone, cached briefly: rules resolve names on every assignment
    /// sync.
    role_cache: std::sync::Mutex<HashMap<String, (std::time::Instant, Vec<crate::tencent::model::RoleConfiguration>)>>,
    /// This process's copy of the organization snapshot (see `organization`), and one
    /// refresh at a time.
    org_copy: std::sync::Mutex<Option<(String, Arc<organization::Organization>)>>,
    org_refreshing: tokio::sync::Mutex<()>,
    /// This process's lease owner id.
    owner: String,
    wake: Notify,
    completed: Notify,
    quota_alarm: AtomicBool,
    /// Whether this process's workers run (it holds the leader lock), for the admin status.
    leading: AtomicBool,
    /// The last periodic reconciliation (`engine.reconcile_interval_secs`).
    last_drift: std::sync::Mutex<Option<reconcile::DriftReport>>,
    last_reconcile: std::sync::Mutex<Option<std::time::Instant>>,
    /// Claimed operations whose outcome the store could not record (it failed after the
    /// call): run again as soon as the store commits (see `rerun_unrecorded`).
    unrecorded: std::sync::Mutex<Vec<i64>>,
    unrecorded_total: std::sync::atomic::AtomicU64,
    /// `audit.retain_days` (0: keep everything) and the last prune.
    audit_retain_days: std::sync::atomic::AtomicU64,
    last_audit_prune: std::sync::Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(
        store: Store,
        client: Arc<CicClient>,
        tenants: impl IntoIterator<Item = TenantPolicy>,
        config: EngineConfig,
        clock: SharedClock,
        rules: rules::Rules,
        manager_uin: Option<u64>,
    ) -> Arc<Engine> {
        Arc::new(Engine {
            // One clock: what the engine writes is timed as it decides.
            store: store.with_clock(clock.clone()),
            client,
            tenants: tenants.into_iter().map(|t| (t.name.clone(), t)).collect(),
            deprovision: config.deprovision,
            config,
            clock,
            rules: std::sync::RwLock::new(Arc::new(rules)),
            last_deployment_check: Default::default(),
            last_organization_refresh: Default::default(),
            manager_uin,
            role_cache: Default::default(),
            org_copy: Default::default(),
            org_refreshing: Default::default(),
            owner: format!("worker-{}", uuid::Uuid::new_v4()),
            wake: Notify::new(),
            completed: Notify::new(),
            quota_alarm: AtomicBool::new(true),
            leading: AtomicBool::new(false),
            last_drift: Default::default(),
            last_reconcile: Default::default(),
            unrecorded: Default::default(),
            unrecorded_total: Default::default(),
            audit_retain_days: std::sync::atomic::AtomicU64::new(crate::config::AuditConfig::default().retain_days),
            last_audit_prune: Default::default(),
        })
    }

    /// Sets `audit.retain_days` (at start-up and on reload).
    pub fn set_audit_retention(&self, days: u64) {
        self.audit_retain_days.store(days, Ordering::Relaxed);
    }

    /// Identity Center calls whose outcome the store could not record, since start-up.
    pub fn unrecorded_outcomes(&self) -> u64 {
        self.unrecorded_total.load(Ordering::Relaxed)
    }

    /// This process's lease owner id (also its row in the store's write probe).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Whether this process runs the engine's workers now (it leads the database).
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }

    pub fn tenant(&self, name: &str) -> Option<&TenantPolicy> {
        self.tenants.get(name)
    }

    pub fn is_live(&self, tenant: &str) -> bool {
        self.tenant(tenant).is_some_and(|t| t.mode == TenantMode::Live)
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// New work was recorded: claim it now instead of at the next poll.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Waits until operation `id` settles (done, failed, parked, held) or `timeout` passes;
    /// returns its last known status. The SCIM create handlers use it so that conflicts and
    /// quota errors reach the IdP. Polls the row as well as listening for completions, so a
    /// worker in another replica is seen too.
    pub async fn wait_for(&self, id: i64, timeout: Duration) -> Option<OpStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.completed.notified();
            let status = self.store.op_status(id).await.ok().flatten();
            match &status {
                Some(s) if s.state.is_settled() => return status,
                None => return None,
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return status;
            }
            let _ = tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + Duration::from_millis(100)),
                notified,
            )
            .await;
        }
    }

    /// The policies of the tenants whose changes reach Identity Center.
    fn live_policies(&self) -> impl Iterator<Item = &TenantPolicy> {
        self.tenants.values().filter(|t| t.mode == TenantMode::Live)
    }

    fn live_tenants(&self) -> Vec<String> {
        let mut t: Vec<String> = self.live_policies().map(|t| t.name.clone()).collect();
        t.sort();
        t
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            base: Duration::from_millis(self.config.retry_base_ms),
            cap: Duration::from_secs(self.config.retry_cap_secs),
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn parse_ts(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}
