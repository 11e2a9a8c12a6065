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
pub mod reconcile;
pub mod rules;
pub mod schedule;
mod view;

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
use crate::tencent::{CicClient, CicError, ErrorClass};
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

/// Why an attempt did not succeed, before it becomes a [`Finish`].
#[derive(Debug)]
pub enum Failure {
    Cic(CicError),
    Store(StoreError),
    /// Identity Center refused the resource itself (a conflict under `reject`, an invalid
    /// name); the SCIM create is rolled back.
    Refused(OpError),
    /// Another operation must happen first; try again after the delay without counting an
    /// attempt as failed.
    Wait(Duration, String),
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
    pub(crate) manager_uin: Option<u64>,
    pub(crate) deprovision: crate::config::Deprovision,
    /// Role configurations per zone and the organization's member accounts, cached briefly:
    /// rules resolve names and "all accounts" on every assignment sync.
    role_cache: std::sync::Mutex<HashMap<String, (std::time::Instant, Vec<crate::tencent::model::RoleConfiguration>)>>,
    member_cache: std::sync::Mutex<Option<(std::time::Instant, Vec<u64>)>>,
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
            manager_uin,
            role_cache: Default::default(),
            member_cache: Default::default(),
            owner: format!("worker-{}", uuid::Uuid::new_v4()),
            wake: Notify::new(),
            completed: Notify::new(),
            quota_alarm: AtomicBool::new(true),
            leading: AtomicBool::new(false),
            last_drift: Default::default(),
            last_reconcile: Default::default(),
            unrecorded: Default::default(),
            unrecorded_total: Default::default(),
        })
    }

    /// Identity Center calls whose outcome the store could not record, since start-up.
    pub fn unrecorded_outcomes(&self) -> u64 {
        self.unrecorded_total.load(Ordering::Relaxed)
    }

    /// This process's lease owner id (also its row in the store's write probe).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Once the store commits again, hands the operations whose outcome was lost back to the
    /// queue at once, instead of when their leases expire: their leases are ended now, and the
    /// next housekeeping turn requeues them with the attempt counted, so the re-run looks its
    /// object up (by cic-bridge's marker) before creating anything.
    async fn rerun_unrecorded(&self) {
        let ids: Vec<i64> = std::mem::take(&mut *lock(&self.unrecorded));
        let mut left = Vec::new();
        for id in ids {
            let ended = self.now() - time::Duration::microseconds(1);
            match self.store.renew_lease(id, &self.owner, ended).await {
                Ok(true) => tracing::info!(
                    job = id,
                    "the store is back: running again the operation whose outcome was lost"
                ),
                // Another worker took it over meanwhile: it runs there.
                Ok(false) => {}
                Err(_) => left.push(id),
            }
        }
        if !left.is_empty() {
            lock(&self.unrecorded).extend(left);
        }
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

    fn live_tenants(&self) -> Vec<String> {
        let mut t: Vec<String> = self
            .tenants
            .values()
            .filter(|t| t.mode == TenantMode::Live)
            .map(|t| t.name.clone())
            .collect();
        t.sort();
        t
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            base: Duration::from_millis(self.config.retry_base_ms),
            cap: Duration::from_secs(self.config.retry_cap_secs),
        }
    }

    /// Runs the engine until `shutdown` fires. Only the leader of the database runs workers
    /// (see `store::leader`): the others serve SCIM and try to take over every
    /// [`LEAD_RETRY`]. A leader that loses its lock stops its workers at once and becomes a
    /// follower again.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken, drain: Duration) {
        let tenants = self.live_tenants();
        if tenants.is_empty() {
            tracing::info!("no live tenant: the engine sends nothing to Identity Center");
            shutdown.cancelled().await;
            return;
        }
        let mut said_follower = false;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            match self.store.try_lead().await {
                Ok(Some(leadership)) => {
                    said_follower = false;
                    self.leading.store(true, Ordering::Relaxed);
                    let reign = self.lead(&tenants, leadership, &shutdown, drain).await;
                    self.leading.store(false, Ordering::Relaxed);
                    if reign == Reign::Ended {
                        break;
                    }
                }
                Ok(None) => {
                    if !said_follower {
                        tracing::info!(owner = %self.owner, "another replica leads the engine; this one serves SCIM and stands by");
                        said_follower = true;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not try for the engine leadership"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(LEAD_RETRY) => {},
            }
        }
        tracing::info!("provisioning engine stopped");
    }

    /// Runs the worker loop while `leadership` holds, until `shutdown` fires; then lets running
    /// operations finish for up to `drain`, and hands back the claims of those that did not.
    /// When leadership is lost, running operations are dropped where they stand (their leases
    /// expire and the next leader runs them again; operations are safe to re-run).
    async fn lead(
        self: &Arc<Self>,
        tenants: &[String],
        mut leadership: Leadership,
        shutdown: &CancellationToken,
        drain: Duration,
    ) -> Reign {
        let shared = leadership.shared();
        let lost = CancellationToken::new();
        let done = CancellationToken::new();
        // The watchdog owns the lock's connection: it checks it every LEAD_CHECK and, on the
        // first failure, stops every worker of this process, within TAKEOVER_GRACE of the
        // lock's loss, which is how long a new leader waits before its first call.
        let watchdog = {
            let (lost, done) = (lost.clone(), done.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = done.cancelled() => {
                            leadership.release().await;
                            return;
                        }
                        _ = tokio::time::sleep(LEAD_CHECK) => {}
                    }
                    if let Err(e) = leadership.check().await {
                        tracing::error!(error = %e, "engine leadership lost: stopping every worker now");
                        lost.cancel();
                        return;
                    }
                }
            })
        };
        if shared && self.others_running().await {
            // A previous leader may not have noticed yet that it lost the lock (see
            // `TAKEOVER_GRACE`); its claims are leased, so waiting costs nothing else.
            tracing::info!(
                secs = TAKEOVER_GRACE.as_secs(),
                "took the engine over while operations run elsewhere: waiting for the previous leader to stop"
            );
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(TAKEOVER_GRACE) => {}
            }
        }
        let permits = Arc::new(Semaphore::new(self.config.workers as usize));
        let tracker = TaskTracker::new();
        let lease = Duration::from_secs(self.config.lease_secs);
        let per_kind_cap = (self.config.workers as usize / 2).max(1);
        let in_flight: Arc<std::sync::Mutex<HashMap<OpKind, usize>>> = Arc::default();
        let mut last_housekeeping = tokio::time::Instant::now() - Duration::from_secs(3600);
        tracing::info!(workers = self.config.workers, owner = %self.owner, ?tenants, "provisioning engine started (leader)");
        loop {
            if shutdown.is_cancelled() || lost.is_cancelled() {
                break;
            }
            if last_housekeeping.elapsed() >= Duration::from_secs(1) {
                last_housekeeping = tokio::time::Instant::now();
                self.housekeeping().await;
                if self.reconcile_due() {
                    let engine = self.clone();
                    tracker.spawn(async move {
                        let report = engine.reconcile_report().await;
                        tracing::info!(drift = ?report.tenants, skipped = ?report.skipped, "periodic reconciliation");
                    });
                }
                if self.deployment_check_due() {
                    let engine = self.clone();
                    let lost = lost.clone();
                    tracker.spawn(async move {
                        tokio::select! {
                            _ = lost.cancelled() => {}
                            r = engine.check_deployments() => if let Err(e) = r {
                                tracing::warn!(error = %e, "checking deployments failed; trying again at the next check");
                            },
                        }
                    });
                }
            }
            // Each kind may hold at most half the workers: an operation waits for its action's
            // rate limiter while holding a worker, so a burst of one kind (a thousand creates)
            // would otherwise starve the others (the memberships queued behind it), although
            // their actions have tokens to spare.
            let (excluded, room) = {
                let counts = lock(&in_flight);
                let excluded: Vec<&str> = OpKind::ALL
                    .iter()
                    .filter(|k| counts.get(k).copied().unwrap_or(0) >= per_kind_cap)
                    .map(|k| k.as_str())
                    .collect();
                let room = OpKind::ALL
                    .iter()
                    .map(|k| per_kind_cap.saturating_sub(counts.get(k).copied().unwrap_or(0)))
                    .filter(|r| *r > 0)
                    .min()
                    .unwrap_or(0);
                (excluded, room)
            };
            // Outcomes cannot be recorded while the store cannot commit: claim nothing (a call
            // now would be a call whose result is lost), wait for the store to come back.
            if !self.store.health().writable() {
                let mut writable = self.store.health().subscribe();
                tracing::warn!("the store cannot commit: the engine claims nothing until it recovers");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = lost.cancelled() => break,
                    _ = writable.wait_for(|w| *w) => {},
                }
                continue;
            }
            if !lock(&self.unrecorded).is_empty() {
                self.rerun_unrecorded().await;
                last_housekeeping = tokio::time::Instant::now() - Duration::from_secs(3600);
                continue;
            }
            let free = permits.available_permits().min(room);
            let mut claimed = 0;
            if free > 0 {
                match self
                    .store
                    .claim(&self.owner, tenants, self.now(), lease, free as i64, &excluded)
                    .await
                {
                    Ok(ops) => {
                        claimed = ops.len();
                        for op in ops {
                            // At most `free` were claimed and only this loop takes permits.
                            let permit = permits.clone().try_acquire_owned().ok();
                            *lock(&in_flight).entry(op.kind).or_insert(0) += 1;
                            let engine = self.clone();
                            let in_flight = in_flight.clone();
                            let lost = lost.clone();
                            tracker.spawn(async move {
                                let kind = op.kind;
                                tokio::select! {
                                    _ = lost.cancelled() => {}
                                    _ = engine.run_op(op, lease) => {}
                                }
                                if let Some(n) = lock(&in_flight).get_mut(&kind) {
                                    *n = n.saturating_sub(1);
                                }
                                drop(permit);
                                engine.wake.notify_one();
                            });
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "claiming operations failed");
                    }
                }
            }
            if claimed == 0 || permits.available_permits() == 0 || room == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = lost.cancelled() => break,
                    _ = self.wake.notified() => {},
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {},
                }
            }
        }
        tracker.close();
        if lost.is_cancelled() {
            tracker.wait().await;
            // Hand the claims back if the database still answers (only the lock's session may
            // have gone); otherwise their leases expire.
            let _ = tokio::time::timeout(LEAD_CHECK, self.store.release_claims(&self.owner, self.now())).await;
            return Reign::Lost;
        }
        tokio::select! {
            _ = tracker.wait() => {}
            _ = tokio::time::sleep(drain) => {
                tracing::warn!("operations still running at the shutdown deadline; handing their claims back");
            }
            // Leadership lost while draining: the workers stop where they stand.
            _ = lost.cancelled() => tracker.wait().await,
        }
        match self.store.release_claims(&self.owner, self.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(operations = n, "handed back claims"),
            Err(e) => tracing::error!(error = %e, "handing back claims failed; they return when their lease expires"),
        }
        done.cancel();
        let _ = watchdog.await;
        Reign::Ended
    }

    /// Whether operations are claimed (running) by any process; true when unknown.
    async fn others_running(&self) -> bool {
        match self.store.op_counts().await {
            Ok(counts) => counts
                .iter()
                .any(|(_, state, _, n)| state == OpState::Running.as_str() && *n > 0),
            Err(_) => true,
        }
    }

    async fn housekeeping(&self) {
        let now = self.now();
        match self.store.reap_expired(now).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(operations = n, "leases expired; their operations run again"),
            Err(e) => tracing::error!(error = %e, "reaping expired leases failed"),
        }
        let keep = time::Duration::seconds(i64::try_from(self.config.keep_done_secs).unwrap_or(i64::MAX / 2));
        if let Err(e) = self.store.prune_done(now - keep).await {
            tracing::warn!(error = %e, "pruning finished operations failed");
        }
    }

    /// Whether the periodic reconciliation is due (and marks it started). The first runs one
    /// interval after start-up, when the queue recorded before a restart has drained.
    fn reconcile_due(&self) -> bool {
        if self.config.reconcile_interval_secs == 0 {
            return false;
        }
        let mut last = lock(&self.last_reconcile);
        let Some(at) = *last else {
            *last = Some(std::time::Instant::now());
            return false;
        };
        let due = at.elapsed() >= Duration::from_secs(self.config.reconcile_interval_secs);
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }

    /// Whether the periodic DeployedRequired check is due (and marks it done).
    fn deployment_check_due(&self) -> bool {
        if self.config.deployment_check_secs == 0 {
            return false;
        }
        let mut last = lock(&self.last_deployment_check);
        let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(self.config.deployment_check_secs));
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }

    /// Runs one claimed operation with its lease renewed in the background, and records the
    /// outcome.
    async fn run_op(self: &Arc<Self>, op: Op, lease: Duration) {
        let span = tracing::info_span!(
            "op",
            job = op.id,
            kind = op.kind.as_str(),
            attempt = op.attempts,
            tenant = %op.tenant,
            resource = %op.resource_id
        );
        async {
            let renew = {
                let engine = self.clone();
                let id = op.id;
                AbortOnDrop(tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(lease / 3).await;
                        let until = engine.now() + lease;
                        match engine.store.renew_lease(id, &engine.owner, until).await {
                            Ok(true) => {}
                            Ok(false) => break,
                            Err(e) => tracing::warn!(error = %e, "renewing the lease failed"),
                        }
                    }
                }))
            };
            let started = std::time::Instant::now();
            let (outcome, mut writes) = exec::execute(self, &op).await;
            drop(renew);
            // A refused create is rolled back: it never got an object to link. A link it
            // forgot (its object is gone) stays forgotten, and so does a recorded assignment
            // that Identity Center does not have.
            if matches!(outcome, Err(Failure::Refused(_))) {
                writes.retain(|w| {
                    matches!(
                        w,
                        crate::store::Write::Unlink { .. } | crate::store::Write::Assignment { present: false, .. }
                    )
                });
            }
            let finish = self.finish_for(&op, outcome).await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let outcome = match &finish {
                Finish::Done { .. } => "done",
                Finish::Retry { .. } => "retry",
                Finish::Defer { .. } => "defer",
                Finish::Failed { .. } => "failed",
                Finish::Parked { .. } => "parked",
                Finish::Held { .. } => "held",
            };
            crate::prometheus::operation(op.kind.as_str(), outcome, started.elapsed());
            match &finish {
                Finish::Done { result } => tracing::info!(elapsed_ms, result = %result, "done"),
                Finish::Retry { at, error } => tracing::warn!(
                    elapsed_ms, code = ?error.code, request_id = ?error.request_id, error = %error.message, retry_at = %at, "will retry"
                ),
                Finish::Defer { note, .. } => tracing::debug!(note = %note, "deferred"),
                Finish::Failed { error } => tracing::error!(
                    elapsed_ms, code = ?error.code, request_id = ?error.request_id, error = %error.message, "failed"
                ),
                Finish::Parked { error, .. } => tracing::error!(
                    code = ?error.code, request_id = ?error.request_id, error = %error.message, "parked: quota full"
                ),
                Finish::Held { note } => tracing::warn!(note = %note, "held by the destructive-change fuse"),
            }
            match self.store.finish(op.id, &self.owner, &finish, self.now(), &writes).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!("lease lost before the outcome was recorded; another worker runs it again"),
                Err(e) if e.is_transient() => {
                    // Identity Center may have acted; the store did not record it. The
                    // operation runs again once the store is back (`rerun_unrecorded`).
                    self.unrecorded_total.fetch_add(1, Ordering::Relaxed);
                    lock(&self.unrecorded).push(op.id);
                    tracing::error!(error = %e, "recording the outcome failed; the operation runs again when the store is back");
                }
                Err(e) => tracing::error!(error = %e, "recording the outcome failed; the operation runs again when its lease expires"),
            }
            self.completed.notify_waiters();
        }
        .instrument(span)
        .await
    }

    /// Turns an attempt's outcome into what the row records: the retry schedule, attempt and
    /// age limits, parking on quotas, alarms.
    async fn finish_for(&self, op: &Op, outcome: Result<String, Failure>) -> Finish {
        let now = self.now();
        let failure = match outcome {
            Ok(result) => {
                self.clear_quota_alarms(op).await;
                return Finish::Done { result };
            }
            Err(f) => f,
        };
        let exhausted = |error: OpError| {
            let age = now - parse_ts(&op.created_at).unwrap_or(now);
            let too_old = age.whole_seconds() >= i64::try_from(self.config.max_age_secs).unwrap_or(i64::MAX);
            if op.attempts >= i64::from(self.config.max_attempts) || too_old {
                let mut error = error;
                error.message = format!("{} (gave up after {} attempts)", error.message, op.attempts);
                Finish::Failed { error }
            } else {
                let delay = self.backoff().delay(op.attempts, rand::rng().random::<f64>());
                Finish::Retry { at: now + delay, error }
            }
        };
        match failure {
            Failure::Wait(delay, note) => Finish::Defer { at: now + delay, note },
            Failure::Hold(note) => {
                let _ = self
                    .store
                    .raise_alarm(
                        &op.tenant,
                        "fuse",
                        &format!("destructive-change fuse tripped: {note}"),
                        now,
                    )
                    .await;
                Finish::Held { note }
            }
            Failure::Store(e) => exhausted(OpError {
                code: None,
                message: format!("database: {e}"),
                request_id: None,
            }),
            Failure::Refused(error) => {
                if let Some(kind) = exec::created_kind(op) {
                    if let Err(e) = self.store.rollback_create(&op.tenant, kind, &op.resource_id, now).await {
                        tracing::error!(error = %e, "rolling back the refused create failed");
                    }
                }
                Finish::Failed { error }
            }
            Failure::Cic(e) => {
                let error = op_error(&e);
                match e.class() {
                    ErrorClass::Retryable | ErrorClass::Dependency => exhausted(error),
                    ErrorClass::Quota => {
                        self.quota_alarm.store(true, Ordering::Relaxed);
                        let code = error.code.clone().unwrap_or_default();
                        let zone = self.tenant(&op.tenant).map(|t| t.zone_id.as_str()).unwrap_or_default();
                        let _ = self
                            .store
                            .raise_alarm(
                                &op.tenant,
                                &format!("quota:{code}"),
                                &format!("Identity Center zone {zone} is at a quota: {code}: {}", error.message),
                                now,
                            )
                            .await;
                        let recheck = Duration::from_secs(self.config.park_recheck_secs);
                        Finish::Parked {
                            at: now + recheck,
                            error,
                        }
                    }
                    ErrorClass::Auth => {
                        let _ = self
                            .store
                            .raise_alarm(
                                &op.tenant,
                                "auth",
                                &format!("Identity Center refused the credentials: {e}"),
                                now,
                            )
                            .await;
                        Finish::Failed { error }
                    }
                    ErrorClass::Conflict | ErrorClass::NotFound | ErrorClass::Invalid | ErrorClass::Definitive => {
                        Finish::Failed { error }
                    }
                }
            }
        }
    }

    /// A create that succeeds shows capacity is back: clear the quota alarm and resume the
    /// operations parked on it.
    async fn clear_quota_alarms(&self, op: &Op) {
        if !self.quota_alarm.load(Ordering::Relaxed) {
            return;
        }
        let codes: &[&str] = match op.kind {
            OpKind::UserSync => &["FailedOperation.UserOverUpperLimit"],
            OpKind::GroupSync => &["FailedOperation.GroupOverUpperLimit"],
            OpKind::MemberSync => &[
                "FailedOperation.GroupUserCountOverUpperLimit",
                "FailedOperation.UserAddGroupCountOverUpperLimit",
            ],
            OpKind::UserDelete | OpKind::GroupDelete | OpKind::AssignSync | OpKind::Deploy => return,
        };
        let now = self.now();
        let Ok(alarms) = self.store.alarms().await else { return };
        if alarms.iter().all(|a| !a.code.starts_with("quota:")) {
            self.quota_alarm.store(false, Ordering::Relaxed);
        }
        for code in codes {
            let alarm = format!("quota:{code}");
            if alarms.iter().any(|a| a.tenant == op.tenant && a.code == alarm) {
                let _ = self.store.clear_alarm(&op.tenant, &alarm, now).await;
                match self
                    .store
                    .retry_ops(None, Some(&op.tenant), &[OpState::Parked.as_str()], now)
                    .await
                {
                    Ok(n) if n > 0 => tracing::info!(operations = n, "capacity is back: parked operations resume"),
                    _ => {}
                }
            }
        }
    }

    /// The fuse: a deletion or deactivation beyond the configured share of the tenant's
    /// objects within the window is held until an admin releases it.
    pub(crate) async fn check_fuse(&self, op: &Op, kind: crate::scim::schema::ResourceKind) -> Result<(), Failure> {
        if op.fuse_released || self.config.fuse_share <= 0.0 {
            return Ok(());
        }
        let now = self.now();
        let window = time::Duration::seconds(i64::try_from(self.config.fuse_window_secs).unwrap_or(i64::MAX / 2));
        let base = self.store.links_count(&op.tenant, kind).await?;
        let threshold = ((base as f64) * self.config.fuse_share)
            .ceil()
            .max(f64::from(self.config.fuse_min)) as i64;
        if self
            .store
            .try_mark_destructive(op.id, &op.tenant, now - window, threshold, now)
            .await?
        {
            return Ok(());
        }
        let recent = self.store.destructive_count(&op.tenant, now - window).await?;
        Err(Failure::Hold(format!(
            "{recent} deletions or deactivations in the last {} s reach the limit of {threshold} ({}% of {base}, at least {})",
            self.config.fuse_window_secs,
            self.config.fuse_share * 100.0,
            self.config.fuse_min
        )))
    }
}

const CACHE_TTL: Duration = Duration::from_secs(30);

impl Engine {
    /// The assignment rules in force.
    pub fn rules(&self) -> Arc<rules::Rules> {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Validates `new` against Identity Center, then puts it in force and queues an
    /// assignment sync of every group (a rule added, changed or removed applies at once).
    /// Returns the problems (by name) when the rules are refused.
    pub async fn reload_rules(&self, new: rules::Rules) -> Result<Vec<String>, CicError> {
        let problems = self.validate_rules(&new).await?;
        if !problems.is_empty() {
            return Ok(problems);
        }
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
        self.queue_assignment_syncs().await;
        Ok(problems)
    }

    /// Queues an `assign.sync` of every linked group of every live tenant.
    pub async fn queue_assignment_syncs(&self) {
        let now = self.now();
        for t in self.tenants.values().filter(|t| t.mode == TenantMode::Live) {
            if let Err(e) = self.store.enqueue_assign_all(&t.name, now).await {
                tracing::error!(tenant = %t.name, error = %e, "queueing assignment syncs failed");
            }
        }
        self.notify();
    }

    /// Queues a deployment of every (role configuration, account) that Identity Center shows
    /// as `DeployedRequired` (a role configuration changed after it was deployed).
    pub async fn check_deployments(&self) -> Result<usize, CicError> {
        let mut queued = 0;
        let now = self.now();
        for t in self.tenants.values().filter(|t| t.mode == TenantMode::Live) {
            let stale = self
                .client
                .list_all(&crate::tencent::model::ListRoleConfigurationProvisionings {
                    zone_id: t.zone_id.clone(),
                    deployment_status: Some(crate::tencent::model::DeploymentStatus::DeployedRequired),
                    max_results: Some(100),
                    ..Default::default()
                })
                .await?;
            for d in stale {
                let uin = d.target_uin.to_string();
                if let Err(e) = self
                    .store
                    .enqueue_op(&t.name, OpKind::Deploy, &d.role_configuration_id, Some(&uin), now)
                    .await
                {
                    tracing::error!(error = %e, "queueing a deployment failed");
                    continue;
                }
                queued += 1;
            }
        }
        if queued > 0 {
            tracing::info!(deployments = queued, "queued deployments that are DeployedRequired");
            self.notify();
        }
        Ok(queued)
    }

    /// Role configurations of `zone` (cached for a short while).
    pub(crate) async fn role_configurations(
        &self,
        zone: &str,
    ) -> Result<Vec<crate::tencent::model::RoleConfiguration>, CicError> {
        if let Some((at, list)) = lock(&self.role_cache).get(zone) {
            if at.elapsed() < CACHE_TTL {
                return Ok(list.clone());
            }
        }
        let list = self
            .client
            .list_all(&crate::tencent::model::ListRoleConfigurations {
                zone_id: zone.to_owned(),
                max_results: Some(100),
                ..Default::default()
            })
            .await?;
        lock(&self.role_cache).insert(zone.to_owned(), (std::time::Instant::now(), list.clone()));
        Ok(list)
    }

    /// The organization's member account UINs (cached for a short while).
    pub(crate) async fn member_uins(&self) -> Result<Vec<u64>, CicError> {
        if let Some((at, list)) = lock(&self.member_cache).as_ref() {
            if at.elapsed() < CACHE_TTL {
                return Ok(list.clone());
            }
        }
        let list: Vec<u64> = self
            .client
            .organization_members()
            .await?
            .into_iter()
            .map(|m| m.member_uin)
            .collect();
        *lock(&self.member_cache) = Some((std::time::Instant::now(), list.clone()));
        Ok(list)
    }

    /// What the rules give a group of `tenant` named `display_name`, resolved into (role
    /// configuration id, account) pairs; `Err(reason)` when a rule names a role configuration
    /// or account that does not exist.
    pub async fn resolve_rules(
        &self,
        tenant: &TenantPolicy,
        display_name: &str,
    ) -> Result<Result<Vec<(String, u64)>, String>, CicError> {
        let wanted = self.rules().wanted(&tenant.name, display_name);
        if wanted.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let roles = self.role_configurations(&tenant.zone_id).await?;
        let mut members: Option<Vec<u64>> = None;
        let mut out = Vec::new();
        for (role, target) in wanted {
            let id = match &role {
                rules::RoleRef::Id(id) => roles.iter().find(|r| &r.role_configuration_id == id),
                rules::RoleRef::Name(n) => roles.iter().find(|r| &r.role_configuration_name == n),
            };
            let Some(id) = id.map(|r| r.role_configuration_id.clone()) else {
                return Ok(Err(format!(
                    "group {display_name:?}: role configuration {role:?} does not exist in zone {}",
                    tenant.zone_id
                )));
            };
            if members.is_none() {
                members = Some(self.member_uins().await?);
            }
            let m = members.as_deref().unwrap_or_default();
            match target {
                rules::Target::Uin(u) if m.contains(&u) || Some(u) == self.manager_uin => out.push((id, u)),
                rules::Target::Uin(u) => {
                    return Ok(Err(format!(
                        "group {display_name:?}: account {u} is not a member account of the organization"
                    )));
                }
                rules::Target::AllAccounts => out.extend(m.iter().map(|u| (id.clone(), *u))),
            }
        }
        out.sort();
        out.dedup();
        Ok(Ok(out))
    }

    pub(crate) fn target_type(&self, uin: u64) -> crate::tencent::model::TargetType {
        if Some(uin) == self.manager_uin {
            crate::tencent::model::TargetType::ManagerUin
        } else {
            crate::tencent::model::TargetType::MemberUin
        }
    }

    /// Checks every `[[assignments]]` rule against each live tenant's zone: role
    /// configurations must exist (by id or name) and explicit UINs must be accounts of the
    /// organization. Returns the problems, by name; empty when all is well.
    pub async fn validate_rules(&self, rules: &rules::Rules) -> Result<Vec<String>, CicError> {
        let mut problems = Vec::new();
        if rules.is_empty() {
            return Ok(problems);
        }
        let mut members: Option<Vec<u64>> = None;
        for t in self.tenants.values().filter(|t| t.mode == TenantMode::Live) {
            let (roles, uins) = rules.references(&t.name);
            let known = self.role_configurations(&t.zone_id).await?;
            for r in roles {
                let found = match &r {
                    rules::RoleRef::Id(id) => known.iter().any(|k| &k.role_configuration_id == id),
                    rules::RoleRef::Name(n) => known.iter().any(|k| &k.role_configuration_name == n),
                };
                if !found {
                    problems.push(format!(
                        "tenant {}: role configuration {} does not exist in zone {}",
                        t.name,
                        match &r {
                            rules::RoleRef::Id(id) => id.clone(),
                            rules::RoleRef::Name(n) => format!("named {n:?}"),
                        },
                        t.zone_id
                    ));
                }
            }
            if !uins.is_empty() {
                if members.is_none() {
                    members = Some(self.member_uins().await?);
                }
                let m = members.as_deref().unwrap_or_default();
                for u in uins {
                    if !m.contains(&u) && Some(u) != self.manager_uin {
                        problems.push(format!(
                            "tenant {}: account {u} is not a member account of the organization",
                            t.name
                        ));
                    }
                }
            }
        }
        Ok(problems)
    }
}

/// Aborts the task when dropped: a lease renewal must end with its operation, including when
/// the operation's future is dropped because leadership was lost.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn parse_ts(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}
