//! The outcome policy: what an attempt's outcome becomes in its row (retry schedule, attempt
//! and age limits, parking on quotas, alarms), and the destructive-change fuse.

use super::*;

impl Engine {
    /// Turns an attempt's outcome into what the row records: the retry schedule, attempt and
    /// age limits, parking on quotas, alarms.
    pub(super) async fn finish_for(&self, op: &Op, outcome: Result<String, Failure>) -> Finish {
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
            Failure::Wait(delay, note) => Finish::Defer {
                at: now + delay,
                note,
                on_task: false,
            },
            Failure::OnTask(delay, note) => Finish::Defer {
                at: now + delay,
                note,
                on_task: true,
            },
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
    pub(super) async fn clear_quota_alarms(&self, op: &Op) {
        if !self.quota_alarm.load(Ordering::Relaxed) {
            return;
        }
        let codes: &[Code] = match op.kind {
            OpKind::UserSync => &[Code::UserOverUpperLimit],
            OpKind::GroupSync => &[Code::GroupOverUpperLimit],
            OpKind::MemberSync => &[
                Code::GroupUserCountOverUpperLimit,
                Code::UserAddGroupCountOverUpperLimit,
            ],
            OpKind::UserDelete | OpKind::GroupDelete | OpKind::AssignSync | OpKind::Deploy => return,
        };
        let now = self.now();
        let Ok(alarms) = self.store.alarms().await else { return };
        if alarms.iter().all(|a| !a.code.starts_with("quota:")) {
            self.quota_alarm.store(false, Ordering::Relaxed);
        }
        for code in codes {
            let alarm = format!("quota:{}", code.as_str());
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
