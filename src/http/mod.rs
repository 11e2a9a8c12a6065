//! HTTP: the composition of the SCIM, health and admin routers, and the layers that apply to
//! every request (request ids, tracing spans, metrics, timeouts, panics, sensitive headers).

pub mod admin;
pub mod auth;
pub mod error;
mod health;
pub mod jwt;
mod metrics;
mod page;
pub mod scim;
pub mod serve;
mod status;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request, header};
use axum::middleware;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::store::Store;
use auth::TokenTable;

/// Settings the handlers need, taken from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    pub max_page_size: u32,
    pub default_page_size: u32,
    pub request_timeout: Duration,
    /// How long a request body may take to arrive whole (`server.body_timeout_secs`).
    pub body_timeout: Duration,
}

/// What the handlers use. SCIM writes go through `provision`, SCIM reads to `store`; the admin
/// API, status, metrics and readiness read `store` and ask `engine` through its methods.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub provision: Arc<crate::provision::Provisioner>,
    pub engine: Arc<crate::engine::Engine>,
    pub admin: Arc<admin::AdminAuth>,
    pub tokens: Arc<TokenTable>,
    pub settings: Arc<Settings>,
    pub monitor: Arc<crate::monitor::Monitor>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Everything on one listener (no `server.admin_listen`).
pub fn router(state: AppState) -> Router {
    layered(
        Router::new()
            .nest("/scim/v2", scim_routes(&state))
            .merge(health::router())
            .merge(admin_routes(&state)),
        state,
    )
}

/// With `server.admin_listen`: the SCIM listener's router (SCIM and health) and the admin
/// listener's (admin API, status page, metrics and health). Neither serves the other's routes.
pub fn split_routers(state: AppState) -> (Router, Router) {
    let scim = layered(
        Router::new()
            .nest("/scim/v2", scim_routes(&state))
            .merge(health::router()),
        state.clone(),
    );
    let admin = layered(Router::new().merge(health::router()).merge(admin_routes(&state)), state);
    (scim, admin)
}

fn scim_routes(state: &AppState) -> Router<AppState> {
    scim::router().route_layer(middleware::from_fn_with_state(
        state.tokens.clone(),
        auth::require_tenant,
    ))
}

fn admin_routes(state: &AppState) -> Router<AppState> {
    admin::router(state.admin.clone())
}

fn layered(routes: Router<AppState>, state: AppState) -> Router {
    let timeout = state.settings.request_timeout;
    routes
        // A route layer sees the matched route (`/scim/v2/Users/{id}`), which keeps the metric
        // labels few; unmatched paths are not counted.
        .route_layer(middleware::from_fn(metrics::track))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id, tenant = tracing::field::Empty)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CatchPanicLayer::custom(|_| {
                    error::scim_error_response(&crate::scim::ScimError::internal())
                }))
                .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::SERVICE_UNAVAILABLE, timeout)),
        )
}
