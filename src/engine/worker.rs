//! The engine's loops: leadership (only the database's leader runs workers), the worker loop
//! (claims, leases, housekeeping, the watchdog) and one operation's run.

use super::*;

impl Engine {
    /// Once the store commits again, hands the operations whose outcome was lost back to the
    /// queue at once, instead of when their leases expire: their leases are ended now, and the
    /// next housekeeping turn requeues them with the attempt counted, so the re-run looks its
    /// object up (by cic-bridge's marker) before creating anything.
    pub(super) async fn rerun_unrecorded(&self) {
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
    pub(super) async fn lead(
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
                if self.organization_refresh_due() && self.live_policies().next().is_some() {
                    let engine = self.clone();
                    let lost = lost.clone();
                    tracker.spawn(async move {
                        tokio::select! {
                            _ = lost.cancelled() => {}
                            // Failures are logged, counted and raised as an alarm inside.
                            _ = engine.refresh_organization("periodic") => {}
                        }
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
    pub(super) async fn others_running(&self) -> bool {
        match self.store.op_counts().await {
            Ok(counts) => counts
                .iter()
                .any(|(_, state, _, n)| state == OpState::Running.as_str() && *n > 0),
            Err(_) => true,
        }
    }

    pub(super) async fn housekeeping(&self) {
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
        self.audit_housekeeping(now).await;
    }

    /// Seals the audit records committed since the last second (every replica's: the leader
    /// seals for all), and once an hour prunes those older than `audit.retain_days`.
    async fn audit_housekeeping(&self, now: time::OffsetDateTime) {
        if let Err(e) = self.store.audit_seal().await {
            tracing::warn!(error = %e, "sealing the audit trail failed; it is tried again in a second");
        }
        let days = self.audit_retain_days.load(std::sync::atomic::Ordering::Relaxed);
        if days == 0 {
            return;
        }
        {
            let mut last = self.last_audit_prune.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(3600)) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        // Capped so that `now - keep` cannot overflow (a million days keeps everything anyway).
        let keep = time::Duration::days(i64::try_from(days.min(1_000_000)).unwrap_or(1_000_000));
        match self.store.audit_prune(now - keep).await {
            Ok(Some(through)) => tracing::info!(through_position = through, retain_days = days, "audit trail pruned"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "pruning the audit trail failed"),
        }
    }

    /// Whether the periodic reconciliation is due (and marks it started). The first runs one
    /// interval after start-up, when the queue recorded before a restart has drained.
    pub(super) fn reconcile_due(&self) -> bool {
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

    /// Whether the periodic organization refresh is due (and marks it started). The first
    /// runs when this process starts leading.
    pub(super) fn organization_refresh_due(&self) -> bool {
        let mut last = lock(&self.last_organization_refresh);
        let every = self.config.organization_refresh_secs;
        let due = match *last {
            None => true,
            Some(_) if every == 0 => false,
            Some(t) => t.elapsed() >= Duration::from_secs(every),
        };
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }

    /// Whether the periodic DeployedRequired check is due (and marks it done).
    pub(super) fn deployment_check_due(&self) -> bool {
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
    pub(super) async fn run_op(self: &Arc<Self>, op: Op, lease: Duration) {
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
            // The calls it made stay in the audit trail (a task's end does not: its status is
            // not recorded either, so the next attempt polls it again).
            if matches!(outcome, Err(Failure::Refused(_))) {
                writes.retain(|w| match w {
                    crate::store::Write::Unlink { .. } | crate::store::Write::Assignment { present: false, .. } => true,
                    crate::store::Write::Audit(e) => e.action != "task.end",
                    _ => false,
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
}

/// Aborts the task when dropped: a lease renewal must end with its operation, including when
/// the operation's future is dropped because leadership was lost.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
