//! The outcome policy: what an attempt's outcome becomes in its row (retry schedule, attempt
//! and age limits, parking on quotas, alarms), and the destructive-change fuse.
//!
//! [`decide`] is the policy itself, a pure function of the outcome, the operation, the time,
//! the limits and a random draw (the retry jitter); [`Engine::finish_for`] draws the number
//! and carries out the side effects the decision names (alarms, the rollback of a refused
//! create).

use super::*;

/// The limits the policy applies (from `[engine]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_attempts: u32,
    pub max_age_secs: u64,
    pub park_recheck: Duration,
    pub backoff: Backoff,
}

/// A side effect a decision asks for, besides recording its `Finish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// A success: capacity may be back; clear the quota alarms it proves wrong.
    ClearQuotaAlarms,
    /// Raise (or refresh) the tenant's alarm `code`; `quota` marks a quota alarm.
    RaiseAlarm { code: String, message: String, quota: bool },
    /// Identity Center refused the object a create was for: roll the SCIM create back.
    RollbackCreate(crate::scim::schema::ResourceKind),
}

/// What an attempt's outcome becomes: the row's `Finish` and the side effects to carry out.
/// `draw` in `[0, 1)` places a retry within its backoff window; `zone` names the tenant's zone
/// in a quota alarm.
pub(crate) fn decide(
    op: &Op,
    outcome: Result<Step, Failure>,
    now: OffsetDateTime,
    limits: &Limits,
    draw: f64,
    zone: &str,
) -> (Finish, Vec<Effect>) {
    let failure = match outcome {
        Ok(Step::Done(result)) => return (Finish::Done { result }, vec![Effect::ClearQuotaAlarms]),
        Ok(Step::Again { after, note, on_task }) => {
            return (
                Finish::Defer {
                    at: now + after,
                    note,
                    on_task,
                },
                Vec::new(),
            );
        }
        Err(f) => f,
    };
    let exhausted = |error: OpError| {
        let age = now - parse_ts(&op.created_at).unwrap_or(now);
        let too_old = age.whole_seconds() >= i64::try_from(limits.max_age_secs).unwrap_or(i64::MAX);
        if op.attempts >= i64::from(limits.max_attempts) || too_old {
            let mut error = error;
            error.message = format!("{} (gave up after {} attempts)", error.message, op.attempts);
            Finish::Failed { error }
        } else {
            let delay = limits.backoff.delay(op.attempts, draw);
            Finish::Retry { at: now + delay, error }
        }
    };
    match failure {
        Failure::Hold(note) => {
            let alarm = Effect::RaiseAlarm {
                code: "fuse".to_owned(),
                message: format!("destructive-change fuse tripped: {note}"),
                quota: false,
            };
            (Finish::Held { note }, vec![alarm])
        }
        Failure::Store(e) => (
            exhausted(OpError {
                code: None,
                message: format!("database: {e}"),
                request_id: None,
            }),
            Vec::new(),
        ),
        Failure::Refused(error) => {
            let effects = exec::created_kind(op).map(Effect::RollbackCreate).into_iter().collect();
            (Finish::Failed { error }, effects)
        }
        Failure::Cic(e) => {
            let error = op_error(&e);
            match e.class() {
                ErrorClass::Retryable | ErrorClass::Dependency => (exhausted(error), Vec::new()),
                ErrorClass::Quota => {
                    let code = error.code.clone().unwrap_or_default();
                    let alarm = Effect::RaiseAlarm {
                        code: format!("quota:{code}"),
                        message: format!("Identity Center zone {zone} is at a quota: {code}: {}", error.message),
                        quota: true,
                    };
                    let finish = Finish::Parked {
                        at: now + limits.park_recheck,
                        error,
                    };
                    (finish, vec![alarm])
                }
                ErrorClass::Auth => {
                    let alarm = Effect::RaiseAlarm {
                        code: "auth".to_owned(),
                        message: format!("Identity Center refused the credentials: {e}"),
                        quota: false,
                    };
                    (Finish::Failed { error }, vec![alarm])
                }
                ErrorClass::Conflict | ErrorClass::NotFound | ErrorClass::Invalid | ErrorClass::Definitive => {
                    (Finish::Failed { error }, Vec::new())
                }
            }
        }
    }
}

impl Engine {
    /// The policy's limits as configured.
    pub(super) fn limits(&self) -> Limits {
        Limits {
            max_attempts: self.config.max_attempts,
            max_age_secs: self.config.max_age_secs,
            park_recheck: Duration::from_secs(self.config.park_recheck_secs),
            backoff: self.backoff(),
        }
    }

    /// Turns an attempt's outcome into what the row records ([`decide`]) and carries out the
    /// side effects the decision names.
    pub(super) async fn finish_for(&self, op: &Op, outcome: Result<Step, Failure>) -> Finish {
        let now = self.now();
        let zone = self.tenant(&op.tenant).map(|t| t.zone_id.clone()).unwrap_or_default();
        let draw = rand::rng().random::<f64>();
        let (finish, effects) = decide(op, outcome, now, &self.limits(), draw, &zone);
        for effect in effects {
            match effect {
                Effect::ClearQuotaAlarms => self.clear_quota_alarms(op).await,
                Effect::RaiseAlarm { code, message, quota } => {
                    if quota {
                        self.quota_alarm.store(true, Ordering::Relaxed);
                    }
                    let _ = self.store.raise_alarm(&op.tenant, &code, &message, now).await;
                }
                Effect::RollbackCreate(kind) => {
                    if let Err(e) = self.store.rollback_create(&op.tenant, kind, &op.resource_id, now).await {
                        tracing::error!(error = %e, "rolling back the refused create failed");
                    }
                }
            }
        }
        finish
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tencent::ApiError;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00:00 UTC);
    const LIMITS: Limits = Limits {
        max_attempts: 3,
        max_age_secs: 3600,
        park_recheck: Duration::from_secs(600),
        backoff: Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
        },
    };

    fn op(kind: OpKind, attempts: i64, created: &str) -> Op {
        Op {
            id: 1,
            tenant: "t".into(),
            kind,
            resource_id: "r".into(),
            related_id: None,
            payload: serde_json::Value::Null,
            attempts,
            created_at: created.into(),
            fuse_released: false,
            cause: None,
        }
    }

    fn api(code: &str) -> Failure {
        Failure::Cic(CicError::Api {
            action: "CreateUser",
            error: ApiError {
                code: code.into(),
                message: "m".into(),
                request_id: "req".into(),
            },
        })
    }

    const RECENT: &str = "2030-01-01T11:59:00.000000Z";

    #[test]
    fn a_retryable_error_is_retried_within_its_backoff_window_until_the_attempts_run_out() {
        let (f, effects) = decide(
            &op(OpKind::UserSync, 2, RECENT),
            Err(api("InternalError")),
            NOW,
            &LIMITS,
            0.5,
            "z",
        );
        // Attempt 2: ceiling 2 s, the draw puts it in the middle.
        assert!(
            matches!(f, Finish::Retry { at, .. } if at == NOW + Duration::from_secs(1)),
            "{f:?}"
        );
        assert!(effects.is_empty());
        let (f, _) = decide(
            &op(OpKind::UserSync, 3, RECENT),
            Err(api("InternalError")),
            NOW,
            &LIMITS,
            0.5,
            "z",
        );
        assert!(
            matches!(&f, Finish::Failed { error } if error.message.ends_with("(gave up after 3 attempts)")),
            "{f:?}"
        );
    }

    #[test]
    fn an_operation_older_than_the_age_limit_fails_on_its_next_retryable_error() {
        let old = "2030-01-01T10:59:59.000000Z";
        let (f, _) = decide(
            &op(OpKind::UserSync, 1, old),
            Err(api("InternalError")),
            NOW,
            &LIMITS,
            0.5,
            "z",
        );
        assert!(matches!(f, Finish::Failed { .. }), "{f:?}");
    }

    #[test]
    fn a_full_quota_parks_the_operation_and_raises_the_quota_alarm() {
        let (f, effects) = decide(
            &op(OpKind::UserSync, 1, RECENT),
            Err(api(Code::UserOverUpperLimit.as_str())),
            NOW,
            &LIMITS,
            0.5,
            "z-1",
        );
        assert!(
            matches!(f, Finish::Parked { at, .. } if at == NOW + Duration::from_secs(600)),
            "{f:?}"
        );
        assert!(matches!(
            effects.as_slice(),
            [Effect::RaiseAlarm { code, message, quota: true }]
                if code == "quota:FailedOperation.UserOverUpperLimit" && message.contains("zone z-1")
        ));
    }

    #[test]
    fn a_refused_create_is_rolled_back_and_a_refused_delete_is_not() {
        let refused = || {
            Failure::Refused(OpError {
                code: None,
                message: "no".into(),
                request_id: None,
            })
        };
        let (f, effects) = decide(
            &op(OpKind::GroupSync, 1, RECENT),
            Err(refused()),
            NOW,
            &LIMITS,
            0.5,
            "z",
        );
        assert!(matches!(f, Finish::Failed { .. }));
        assert_eq!(
            effects,
            [Effect::RollbackCreate(crate::scim::schema::ResourceKind::Group)]
        );
        let (_, effects) = decide(
            &op(OpKind::GroupDelete, 1, RECENT),
            Err(refused()),
            NOW,
            &LIMITS,
            0.5,
            "z",
        );
        assert!(effects.is_empty());
    }

    #[test]
    fn waits_defer_without_an_effect_and_success_clears_quota_alarms() {
        let wait = Step::Again {
            after: Duration::from_secs(2),
            note: "waiting for task t-1".into(),
            on_task: true,
        };
        let (f, effects) = decide(&op(OpKind::Deploy, 1, RECENT), Ok(wait), NOW, &LIMITS, 0.5, "z");
        assert!(matches!(f, Finish::Defer { on_task: true, at, .. } if at == NOW + Duration::from_secs(2)));
        assert!(effects.is_empty());
        let (f, effects) = decide(
            &op(OpKind::UserSync, 1, RECENT),
            Ok(Step::Done("done".into())),
            NOW,
            &LIMITS,
            0.5,
            "z",
        );
        assert!(matches!(f, Finish::Done { .. }));
        assert_eq!(effects, [Effect::ClearQuotaAlarms]);
    }

    #[test]
    fn bad_credentials_fail_the_operation_and_raise_the_auth_alarm() {
        let (f, effects) = decide(
            &op(OpKind::UserSync, 1, RECENT),
            Err(api("AuthFailure.SignatureFailure")),
            NOW,
            &LIMITS,
            0.5,
            "z",
        );
        assert!(matches!(f, Finish::Failed { .. }));
        assert!(matches!(effects.as_slice(), [Effect::RaiseAlarm { code, quota: false, .. }] if code == "auth"));
    }
}
