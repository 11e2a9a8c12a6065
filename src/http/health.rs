//! `/healthz` (the process answers) and `/readyz` (this process can serve: the database
//! answers and commits writes, every embedded migration is applied, the configuration was accepted). Open without
//! a token so that probes need no secret; they say nothing a stranger could use.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> (StatusCode, axum::Json<Value>) {
    (StatusCode::OK, axum::Json(json!({"status": "ok"})))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<Value>) {
    // The configuration is validated before the listener is bound: a process that answers
    // has a valid one. Reported so that the three conditions read alike.
    let config = json!({"status": "ok", "tenants": state.engine.tenant_names().len()});
    let database = match state.store.ping().await {
        Ok(()) => json!({"status": "ok"}),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            json!({"status": "failed", "reason": "database unreachable; see the server log"})
        }
    };
    // Applied at start-up, but a migration that failed half-way (`success = 0`) or a
    // database file swapped underneath leaves this binary's schema missing: do not serve.
    let migrations = match state.store.pending_migrations().await {
        Ok(pending) if pending.is_empty() => json!({"status": "ok"}),
        Ok(pending) => json!({"status": "failed", "reason": "migrations not applied", "pending": pending}),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: cannot read the applied migrations");
            json!({"status": "failed", "reason": "cannot read the applied migrations"})
        }
    };
    // Reads may answer while writes cannot commit (a full disk): a load balancer should then
    // send SCIM traffic elsewhere, and the reason tells the operator what to fix.
    let writes = match state.store.health().outage() {
        None => json!({"status": "ok"}),
        Some(o) => json!({
            "status": "failed",
            "reason": format!("the store cannot commit writes: {}", o.reason),
            "since": crate::store::format_time(o.since),
        }),
    };
    let ready = [&config, &database, &migrations, &writes]
        .iter()
        .all(|c| c["status"] == "ok");
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": {"database": database, "writes": writes, "migrations": migrations, "config": config},
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body))
}
