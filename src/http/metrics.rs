//! `GET /metrics` (behind the admin token) and the middleware that counts requests.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::admin::AdminError;
use crate::prometheus::StateGauges;

const ALARM_HELP: &str = "Each raised alarm (quota, fuse, auth), 1 while raised";
const DRIFT_ITEMS_HELP: &str = "Drift the last periodic reconciliation found (unmanaged objects excluded)";
const DRIFT_HELP: &str = "Differences between the store and Identity Center found by the last periodic reconciliation";
const ZONE_USAGE_HELP: &str = "Objects in the Identity Center zone (GetZoneStatistics)";
const ZONE_QUOTA_HELP: &str = "Quota of the Identity Center zone (GetZoneStatistics)";

/// Counts every routed request by matched route, method and status, with its latency.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    crate::prometheus::http_request(&route, &method, resp.status().as_u16(), started.elapsed());
    resp
}

/// The process's counters and histograms, then this app's state read from its store.
pub async fn metrics(State(state): State<AppState>) -> Result<Response, AdminError> {
    let Some(handle) = crate::prometheus::handle() else {
        return Err(AdminError(
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed in this process".into(),
        ));
    };
    let mut text = crate::prometheus::render(handle);
    let mut g = StateGauges::default();
    g.gauge(
        "cic_bridge_build_info",
        "Version of the running cic-bridge",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    g.gauge(
        "cic_bridge_uptime_seconds",
        "Seconds since this process started serving",
        &[],
        state.monitor.started.elapsed().as_secs() as f64,
    );
    let health = state.store.health();
    g.gauge(
        "cic_bridge_store_writable",
        "1 while the store commits writes, 0 during an outage (disk full, database down): SCIM writes then answer 503",
        &[],
        if health.writable() { 1.0 } else { 0.0 },
    );
    g.counter(
        "cic_bridge_store_writes_refused_total",
        "SCIM writes answered 503 because the store could not commit them (nothing was stored)",
        &[],
        health.refused_writes() as f64,
    );
    g.counter(
        "cic_bridge_outcomes_unrecorded_total",
        "Identity Center calls whose outcome could not be recorded (the store failed after the call); each is run again, finding its own object",
        &[],
        state.engine.unrecorded_outcomes() as f64,
    );
    // Per process: an alert sums it over the replicas (exactly one of them should lead).
    g.gauge(
        "cic_bridge_engine_leader",
        "1 while this process runs the engine's workers (it holds the leader lock), else 0",
        &[],
        if state.engine.is_leader() { 1.0 } else { 0.0 },
    );
    // The rest is read from the store; during an outage the metrics above still answer.
    if let Err(e) = store_gauges(&state, &mut g).await {
        tracing::warn!(error = %e, "metrics: the store's gauges are missing from this scrape");
    }
    text.push_str(&g.finish());
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response())
}

async fn store_gauges(state: &AppState, g: &mut StateGauges) -> Result<(), crate::store::StoreError> {
    let now = state.engine.now();
    let counts = state.store.queue_overview(now).await?;
    let tenants = state.engine.tenant_names();
    for tenant in &tenants {
        // Shadow tenants record operations and send nothing, so theirs stay due: the queue's
        // alert needs to tell them apart.
        g.gauge(
            "cic_bridge_tenant_live",
            "1 for a live tenant, 0 for a shadow tenant (operations recorded, never sent: they stay due)",
            &[("tenant", tenant)],
            if state.engine.is_live(tenant) { 1.0 } else { 0.0 },
        );
        for bucket in super::status::BUCKETS {
            let n: i64 = counts
                .iter()
                .filter(|c| c.tenant == *tenant && c.bucket == bucket)
                .map(|c| c.count)
                .sum();
            g.gauge(
                "cic_bridge_queue_operations",
                "Operations in the outbox by tenant and state (pending split into due, scheduled and waiting on a task)",
                &[("tenant", tenant), ("state", bucket)],
                n as f64,
            );
        }
        let oldest = counts
            .iter()
            .filter(|c| c.tenant == *tenant)
            .filter_map(|c| c.oldest_due.as_deref())
            .min()
            .and_then(super::status::parse_ts)
            .map(|t| (now - t).as_seconds_f64().max(0.0))
            .unwrap_or(0.0);
        g.gauge(
            "cic_bridge_queue_oldest_due_seconds",
            "Age of the oldest operation that is due and not yet running (0 when none)",
            &[("tenant", tenant)],
            oldest,
        );
    }
    let in_progress = state
        .store
        .tasks(None, None, None, Some(crate::store::TaskStatus::InProgress), 10_000)
        .await?;
    for tenant in &tenants {
        g.gauge(
            "cic_bridge_tasks_in_progress",
            "Identity Center tasks cic-bridge started that have not ended",
            &[("tenant", tenant)],
            in_progress.iter().filter(|t| t.tenant == *tenant).count() as f64,
        );
    }
    let alarms = state.store.alarms().await?;
    // Families that have no sample while all is well (no alarm raised, no reconciliation
    // yet) are still declared, so their names are visible to the rules' check.
    g.declare("cic_bridge_alarm", "gauge", ALARM_HELP);
    g.declare("cic_bridge_drift_items", "gauge", DRIFT_ITEMS_HELP);
    g.declare("cic_bridge_drift", "gauge", DRIFT_HELP);
    g.declare("cic_bridge_zone_usage", "gauge", ZONE_USAGE_HELP);
    g.declare("cic_bridge_zone_quota", "gauge", ZONE_QUOTA_HELP);
    for tenant in &tenants {
        g.gauge(
            "cic_bridge_quota_alarms",
            "Raised quota alarms (a zone quota is full; operations are parked)",
            &[("tenant", tenant)],
            alarms
                .iter()
                .filter(|a| a.tenant == *tenant && a.code.starts_with("quota:"))
                .count() as f64,
        );
    }
    for a in &alarms {
        g.gauge(
            "cic_bridge_alarm",
            ALARM_HELP,
            &[("tenant", &a.tenant), ("code", &a.code)],
            1.0,
        );
    }
    if let Some(drift) = state.engine.last_drift() {
        for (tenant, kinds) in &drift.tenants {
            // Per tenant, even when clean (0), so that an alert can tell "compared, no drift"
            // from "never compared". Unmanaged objects are reported, not drift.
            g.gauge(
                "cic_bridge_drift_items",
                DRIFT_ITEMS_HELP,
                &[("tenant", tenant)],
                kinds
                    .iter()
                    .filter(|(k, _)| **k != "unmanaged")
                    .map(|(_, n)| *n)
                    .sum::<u64>() as f64,
            );
            for (kind, n) in kinds {
                g.gauge(
                    "cic_bridge_drift",
                    DRIFT_HELP,
                    &[("tenant", tenant), ("kind", kind)],
                    *n as f64,
                );
            }
        }
    }
    for (zone, usage) in state.monitor.zones() {
        let s = &usage.stats;
        for (what, used, quota) in [
            ("users", s.user_count, s.user_quota),
            ("groups", s.group_count, s.group_quota),
            (
                "role_configurations",
                s.role_configuration_count,
                s.role_configuration_quota,
            ),
        ] {
            g.gauge(
                "cic_bridge_zone_usage",
                ZONE_USAGE_HELP,
                &[("zone", &zone), ("object", what)],
                used as f64,
            );
            g.gauge(
                "cic_bridge_zone_quota",
                ZONE_QUOTA_HELP,
                &[("zone", &zone), ("object", what)],
                quota as f64,
            );
        }
    }
    Ok(())
}
