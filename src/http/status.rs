//! The facts behind `GET /admin/status` and the status page, gathered once as JSON so that
//! both show the same thing.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::AppState;
use super::admin::op_json;
use crate::scim::schema::ResourceKind;
use crate::store::{OpState, StoreError};

/// The queue's states as the status reports them: `pending` is split in three.
pub const BUCKETS: [&str; 8] = [
    "due",
    "scheduled",
    "waiting",
    "running",
    "parked",
    "held",
    "failed",
    "done",
];

pub fn parse_ts(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

fn rfc3339(t: OffsetDateTime) -> String {
    crate::store::format_time(t)
}

/// The store's side of the status: whether writes commit, since when not and why.
pub fn store_json(state: &AppState) -> Value {
    let health = state.store.health();
    let outage = health.outage();
    json!({
        "writable": outage.is_none(),
        "unavailableSince": outage.as_ref().map(|o| rfc3339(o.since)),
        "reason": outage.as_ref().map(|o| o.reason.clone()),
        "refusedWrites": health.refused_writes(),
        "unrecordedOutcomes": state.engine.unrecorded_outcomes(),
    })
}

/// The alarm raised while the store cannot commit. Kept in memory: the store that would hold
/// it is the one failing.
pub fn store_alarm(state: &AppState) -> Option<Value> {
    state.store.health().outage().map(|o| {
        json!({"tenant": null, "code": "storeUnavailable",
               "message": format!("the store cannot commit writes: {}; SCIM writes answer 503 and the engine is paused until it recovers", o.reason),
               "raisedAt": rfc3339(o.since), "updatedAt": rfc3339(o.since), "count": 1, "zoneUsage": null})
    })
}

pub async fn gather(state: &AppState) -> Result<Value, StoreError> {
    let store = &state.store;
    let now = state.engine.now();
    let counts = store.queue_overview(now).await?;
    let memberships: BTreeMap<String, i64> = store.membership_counts().await?.into_iter().collect();
    let zones = state.monitor.zones();
    let alarms = store.alarms().await?;
    let age = |oldest: Option<&str>| oldest.and_then(parse_ts).map(|t| (now - t).whole_seconds().max(0));

    let mut tenants = Vec::new();
    for name in state.engine.tenant_names() {
        let Some(t) = state.engine.tenant(name) else { continue };
        let mine: Vec<_> = counts.iter().filter(|c| c.tenant == name).collect();
        // bucket → kind → n, and the totals by bucket and by kind.
        let mut by_state: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
        let mut by_kind: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
        let mut totals: BTreeMap<&str, i64> = BUCKETS.iter().map(|b| (*b, 0)).collect();
        for c in &mine {
            *by_state.entry(&c.bucket).or_default().entry(&c.kind).or_default() += c.count;
            *by_kind.entry(&c.kind).or_default().entry(&c.bucket).or_default() += c.count;
            *totals.entry(&c.bucket).or_default() += c.count;
        }
        let oldest_due = mine.iter().filter_map(|c| c.oldest_due.as_deref()).min();
        let zone = zones.get(&t.zone_id).map(|z| {
            json!({
                "at": rfc3339(z.at),
                "users": z.stats.user_count, "userQuota": z.stats.user_quota,
                "groups": z.stats.group_count, "groupQuota": z.stats.group_quota,
                "roleConfigurations": z.stats.role_configuration_count,
                "roleConfigurationQuota": z.stats.role_configuration_quota,
            })
        });
        tenants.push(json!({
            "name": t.name,
            "zoneId": t.zone_id,
            "mode": format!("{:?}", t.mode).to_lowercase(),
            "users": store.resource_count(&t.name, ResourceKind::User).await?,
            "groups": store.resource_count(&t.name, ResourceKind::Group).await?,
            "memberships": memberships.get(name).copied().unwrap_or(0),
            "queue": by_state,
            "queueByKind": by_kind,
            "queueTotals": totals,
            "oldestDueAgeSecs": age(oldest_due),
            "zoneUsage": zone,
        }));
    }

    let failures: Vec<Value> = store
        .list_ops(None, Some(OpState::Failed.as_str()), 50)
        .await?
        .iter()
        .map(op_json)
        .collect();
    let tasks: Vec<Value> = store
        .tasks(None, None, None, Some(crate::store::TaskStatus::InProgress), 100)
        .await?
        .into_iter()
        .map(|t| {
            json!({
                "tenant": t.tenant, "taskId": t.task_id, "taskType": t.task_type,
                "roleConfigurationId": t.role_configuration_id, "account": t.target_uin,
                "group": t.scim_group, "polls": t.polls, "createdAt": t.created_at,
            })
        })
        .collect();
    let zone_of = |tenant: &str| {
        state
            .engine
            .tenant(tenant)
            .and_then(|t| zones.get(&t.zone_id))
            .map(|z| &z.stats)
    };
    let alarms: Vec<Value> = store_alarm(state)
        .into_iter()
        .chain(alarms.into_iter().map(|a| {
            // A quota alarm is more useful with the zone's numbers beside it.
            let usage = a.code.starts_with("quota:").then(|| zone_of(&a.tenant)).flatten().map(|s| {
                json!({"users": s.user_count, "userQuota": s.user_quota, "groups": s.group_count, "groupQuota": s.group_quota})
            });
            json!({"tenant": a.tenant, "code": a.code, "message": a.message, "raisedAt": a.raised_at,
                   "updatedAt": a.updated_at, "count": a.count, "zoneUsage": usage})
        }))
        .collect();
    let stats = state.engine.identity_center_stats();
    let last_error = stats.last_error().map(|e| {
        json!({"at": rfc3339(e.at), "action": e.action, "code": e.code, "message": e.message, "requestId": e.request_id})
    });
    let last_ok = stats.last_ok();
    let reachable = match (last_ok, stats.last_error()) {
        (None, None) => Value::Null,
        (Some(ok), Some(err)) => Value::Bool(ok >= err.at || err.code.is_some()),
        (Some(_), None) => Value::Bool(true),
        // An error with a code is still an answer from Identity Center.
        (None, Some(err)) => Value::Bool(err.code.is_some()),
    };
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    let history: Vec<Value> = state
        .monitor
        .history()
        .iter()
        .map(|s| json!({"at": s.at, "queued": s.queued, "running": s.running, "stuck": s.stuck}))
        .collect();
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSecs": state.monitor.started.elapsed().as_secs(),
        // With several replicas on one PostgreSQL database, exactly one runs the engine.
        "engineLeader": state.engine.is_leader(),
        // The last periodic reconciliation (engine.reconcile_interval_secs); null when off.
        "drift": state.engine.last_drift(),
        "now": rfc3339(now),
        "store": store_json(state),
        "tenants": tenants,
        "tasksInProgress": tasks,
        "failures": failures,
        "alarms": alarms,
        // The organization snapshot department and tag rules resolve against.
        "organization": state.engine.organization_status().await?,
        "identityCenter": {
            "endpoint": state.engine.identity_center_endpoint().as_str(),
            "reachable": reachable,
            "lastSuccessAt": last_ok.map(rfc3339),
            "lastError": last_error,
            "calls": stats.calls.load(relaxed),
            "errors": stats.errors.load(relaxed),
            "throttled": {
                "requestLimitExceeded": stats.throttled.load(relaxed),
                "limiterWaits": stats.limiter_waits.load(relaxed),
            },
        },
        "queueHistory": {"intervalSecs": state.monitor.interval.as_secs(), "samples": history},
    }))
}
