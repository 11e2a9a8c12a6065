//! The admin API: `/admin/status`, `/admin/jobs`, retries and fuse releases, plus the status
//! page (`/admin`) and `/metrics`. JSON in, JSON out, every route behind the admin token
//! (`CIC_BRIDGE_ADMIN_TOKEN`), which is separate from the tenants' SCIM tokens and kept only as
//! a SHA-256 digest, compared in constant time. A browser sends it as the password of HTTP
//! Basic (any user name), since it cannot set a bearer header on a page load.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::AppState;
use super::auth::digest;
use crate::store::{OpState, OpStatus, StoreError};

/// The admin token's digest (none configured: every admin request is refused).
#[derive(Clone)]
pub struct AdminAuth {
    digest: Option<[u8; 32]>,
    pub started: Instant,
}

impl AdminAuth {
    pub fn new(token: Option<&str>) -> AdminAuth {
        AdminAuth {
            digest: token.map(digest),
            started: Instant::now(),
        }
    }
}

/// An admin API error: `{"error": "...", "status": N}`.
pub struct AdminError(pub StatusCode, pub String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let mut resp = (self.0, Json(json!({"error": self.1, "status": self.0.as_u16()}))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cic-bridge-admin\""),
            );
            resp.headers_mut()
                .append(header::WWW_AUTHENTICATE, HeaderValue::from_static(BASIC_CHALLENGE));
        }
        resp
    }
}

const BASIC_CHALLENGE: &str = "Basic realm=\"cic-bridge admin\"";

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Unavailable { reason, .. } = &e {
            tracing::warn!(error = %e, "admin: the store is unavailable");
            return AdminError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the store is unavailable ({reason}); retry later"),
            );
        }
        tracing::error!(error = %e, "admin: store failure");
        AdminError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "database error; see the server log".into(),
        )
    }
}

/// The token presented: `Bearer <token>`, or `Basic base64(<any user>:<token>)`.
fn presented_token(req: &Request) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_, password) = text.split_once(':')?;
        return Some(password.to_owned());
    }
    None
}

async fn require_admin(State(auth): State<Arc<AdminAuth>>, req: Request, next: Next) -> Response {
    let presented = presented_token(&req);
    let ok = match (&auth.digest, presented) {
        (Some(want), Some(token)) => bool::from(want.ct_eq(&digest(&token))),
        _ => false,
    };
    if !ok {
        let why = if auth.digest.is_none() {
            "the admin API is disabled: set CIC_BRIDGE_ADMIN_TOKEN"
        } else {
            "a valid admin token is required (Authorization: Bearer, or Basic with the token as password)"
        };
        let mut resp = AdminError(StatusCode::UNAUTHORIZED, why.into()).into_response();
        // The page is for browsers: only the challenge they can answer, so that they prompt.
        if req.uri().path() == "/admin" {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(BASIC_CHALLENGE));
        }
        return resp;
    }
    // What an operator does through the API is recorded in the audit trail as the admin
    // token's, with the request's id.
    let origin = crate::store::Origin::new("admin token", super::auth::request_id(&req));
    crate::store::audit::acting(origin, next.run(req)).await
}

pub fn router(auth: Arc<AdminAuth>) -> Router<AppState> {
    Router::new()
        .route("/admin", get(super::page::page))
        .route("/admin/status", get(status))
        .route("/metrics", get(super::metrics::metrics))
        .route("/admin/jobs", get(jobs))
        .route("/admin/jobs/{id}/retry", post(retry_one))
        .route("/admin/jobs/retry-parked", post(retry_parked))
        .route("/admin/jobs/release-held", post(release_held))
        .route("/admin/organization/refresh", post(refresh_organization))
        .route("/admin/provision", post(provision))
        .route("/admin/tasks", get(tasks))
        .route("/admin/reconcile", post(reconcile))
        .route("/admin/explain", get(explain))
        .route("/admin/audit", get(audit))
        .route("/admin/audit/verify", get(audit_verify))
        .route_layer(axum::middleware::from_fn_with_state(auth, require_admin))
}

pub(crate) fn op_json(o: &OpStatus) -> Value {
    json!({
        "id": o.id,
        "tenant": o.tenant,
        "kind": o.kind,
        "resource": o.resource_id,
        "related": o.related_id,
        "state": o.state.as_str(),
        "attempts": o.attempts,
        "result": o.result,
        "error": o.last_error.as_ref().map(|m| json!({
            "code": o.error_code,
            "message": m,
            "requestId": o.error_request_id,
        })),
        "nextAttemptAt": o.next_attempt_at,
        "createdAt": o.created_at,
        "updatedAt": o.updated_at,
    })
}

async fn status(State(state): State<AppState>) -> Response {
    match super::status::gather(&state).await {
        Ok(v) => Json(v).into_response(),
        // PostgreSQL down: the queue cannot be read, but what this process knows (the outage,
        // its alarm) is exactly what the operator needs to see.
        Err(e) if e.is_transient() => {
            tracing::warn!(error = %e, "status: the store cannot be read");
            let body = json!({
                "error": format!("the store cannot be read: {e}"),
                "status": 503,
                "version": env!("CARGO_PKG_VERSION"),
                "engineLeader": state.engine.is_leader(),
                "store": super::status::store_json(&state),
                "alarms": super::status::store_alarm(&state).into_iter().collect::<Vec<_>>(),
            });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
        Err(e) => AdminError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
struct JobsQuery {
    state: Option<String>,
    tenant: Option<String>,
    limit: Option<i64>,
}

async fn jobs(State(state): State<AppState>, Query(q): Query<JobsQuery>) -> Result<Json<Value>, AdminError> {
    if let Some(s) = &q.state {
        if OpState::parse(s).is_none() {
            return Err(AdminError(
                StatusCode::BAD_REQUEST,
                format!("unknown state {s:?}: pending, running, done, failed, parked or held"),
            ));
        }
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let ops = state
        .store
        .list_ops(q.tenant.as_deref(), q.state.as_deref(), limit)
        .await?;
    Ok(Json(json!({"jobs": ops.iter().map(op_json).collect::<Vec<_>>()})))
}

async fn retry_one(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, AdminError> {
    let n = state.engine.retry_operation(id).await?;
    if n == 0 {
        return Err(AdminError(
            StatusCode::NOT_FOUND,
            format!("no failed, parked or held job {id}"),
        ));
    }
    Ok(Json(json!({"requeued": n})))
}

#[derive(Deserialize)]
struct TenantQuery {
    tenant: Option<String>,
}

async fn retry_parked(State(state): State<AppState>, Query(q): Query<TenantQuery>) -> Result<Json<Value>, AdminError> {
    let n = state.engine.retry_parked(q.tenant.as_deref()).await?;
    Ok(Json(json!({"requeued": n})))
}

/// Releases the operations the destructive-change fuse holds, and clears its alarm.
/// Releases what the fuse holds: operations (of `?tenant=`, or all) and, without a tenant, an
/// organization refresh it kept aside.
async fn release_held(State(state): State<AppState>, Query(q): Query<TenantQuery>) -> Result<Json<Value>, AdminError> {
    let n = state.engine.release_held(q.tenant.as_deref()).await?;
    let organization = match q.tenant {
        Some(_) => false,
        None => state.engine.release_held_organization().await?,
    };
    Ok(Json(json!({"released": n, "organizationReleased": organization})))
}

/// Reads the organization now (instead of at the next `engine.organization_refresh_secs`).
async fn refresh_organization(State(state): State<AppState>) -> Result<Json<Value>, AdminError> {
    use crate::engine::organization::RefreshError;
    match state.engine.refresh_organization("admin request").await {
        Ok(done) => Ok(Json(serde_json::to_value(done).unwrap_or(Value::Null))),
        Err(RefreshError::Store(e)) => Err(e.into()),
        Err(e @ RefreshError::Cic(_)) => Err(AdminError(StatusCode::BAD_GATEWAY, e.to_string())),
        Err(e @ RefreshError::Rules(_)) => Err(AdminError(StatusCode::CONFLICT, e.to_string())),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProvisionBody {
    tenant: Option<String>,
    role_configuration_id: String,
    account: Option<u64>,
    #[serde(default)]
    all_accounts: bool,
}

/// Queues ProvisionRoleConfiguration of a role configuration on an account or on every member
/// account: `{"roleConfigurationId": "rc-…", "account": 100000000001}` or `"allAccounts": true`.
async fn provision(
    State(state): State<AppState>,
    body: Result<Json<ProvisionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, AdminError> {
    let Json(b) = body.map_err(|e| AdminError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let names = state.engine.tenant_names();
    let tenant = match b.tenant {
        Some(t) if state.engine.tenant(&t).is_some() => t,
        Some(t) => return Err(AdminError(StatusCode::BAD_REQUEST, format!("no tenant named {t:?}"))),
        None if names.len() == 1 => names[0].to_owned(),
        None => {
            return Err(AdminError(
                StatusCode::BAD_REQUEST,
                "several tenants: give \"tenant\"".into(),
            ));
        }
    };
    if !b.role_configuration_id.starts_with("rc-") {
        return Err(AdminError(
            StatusCode::BAD_REQUEST,
            "roleConfigurationId must be rc-…".into(),
        ));
    }
    let target = match (b.account, b.all_accounts) {
        (Some(u), false) => u.to_string(),
        (None, true) => "*".to_string(),
        _ => {
            return Err(AdminError(
                StatusCode::BAD_REQUEST,
                "give account or allAccounts: true".into(),
            ));
        }
    };
    let id = state
        .engine
        .queue_deployment(&tenant, &b.role_configuration_id, &target)
        .await?;
    Ok(Json(json!({"job": id})))
}

#[derive(Deserialize)]
struct TasksQuery {
    tenant: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
}

async fn tasks(State(state): State<AppState>, Query(q): Query<TasksQuery>) -> Result<Json<Value>, AdminError> {
    // A status no task can have matches none.
    let status = q.status.as_deref().map(crate::store::TaskStatus::parse);
    let rows = match status {
        Some(None) => Vec::new(),
        Some(Some(_)) | None => {
            state
                .store
                .tasks(
                    q.tenant.as_deref(),
                    None,
                    None,
                    status.flatten(),
                    q.limit.unwrap_or(100).clamp(1, 1000),
                )
                .await?
        }
    };
    let tasks: Vec<Value> = rows
        .into_iter()
        .map(|t| {
            json!({
                "taskId": t.task_id, "taskType": t.task_type, "status": t.status,
                "roleConfigurationId": t.role_configuration_id, "account": t.target_uin,
                "group": t.scim_group, "failureReason": t.failure_reason, "polls": t.polls,
                "createdAt": t.created_at, "updatedAt": t.updated_at,
            })
        })
        .collect();
    Ok(Json(json!({"tasks": tasks})))
}

impl From<crate::engine::reconcile::ReconcileError> for AdminError {
    fn from(e: crate::engine::reconcile::ReconcileError) -> Self {
        use crate::engine::reconcile::ReconcileError as E;
        match e {
            E::UnknownTenant(t) => AdminError(StatusCode::BAD_REQUEST, format!("no tenant named {t:?}")),
            E::Cic(e) => AdminError(StatusCode::BAD_GATEWAY, format!("Identity Center: {e}")),
            E::Store(e) => e.into(),
        }
    }
}

#[derive(Deserialize)]
struct ReconcileQuery {
    tenant: Option<String>,
    #[serde(default)]
    apply: bool,
}

/// Compares the store with Identity Center and returns the plan; `apply=true` also queues
/// the fixes.
async fn reconcile(State(state): State<AppState>, Query(q): Query<ReconcileQuery>) -> Result<Json<Value>, AdminError> {
    let plans = state.engine.reconcile(q.tenant.as_deref(), q.apply).await?;
    let drift: usize = plans.iter().map(|p| p.drift()).sum();
    Ok(Json(json!({"drift": drift, "applied": q.apply, "plans": plans})))
}

#[derive(Deserialize)]
struct ExplainQuery {
    user: Option<String>,
    account: Option<u64>,
    tenant: Option<String>,
}

/// Why a user has which roles (`?user=`), or who has which roles on an account (`?account=`).
async fn explain(State(state): State<AppState>, Query(q): Query<ExplainQuery>) -> Result<Json<Value>, AdminError> {
    match (&q.user, q.account) {
        (Some(user), None) => match state.engine.explain_user(user, q.tenant.as_deref()).await? {
            Some(v) => Ok(Json(v)),
            None => Err(AdminError(
                StatusCode::NOT_FOUND,
                format!("no user {user:?} (by id or userName)"),
            )),
        },
        (None, Some(uin)) => Ok(Json(state.engine.explain_account(uin, q.tenant.as_deref()).await?)),
        _ => Err(AdminError(
            StatusCode::BAD_REQUEST,
            "give user=<userName or id> or account=<UIN>".into(),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    tenant: Option<String>,
    user: Option<String>,
    group: Option<String>,
    account: Option<u64>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
}

/// A time bound of an audit query: RFC 3339, or a date (`2026-12-01`, midnight UTC).
fn audit_time(key: &str, value: Option<String>) -> Result<Option<String>, AdminError> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    crate::store::audit::parse_bound(&v).map(Some).ok_or_else(|| {
        AdminError(
            StatusCode::BAD_REQUEST,
            format!("{key} must be RFC 3339 or YYYY-MM-DD, got {v:?}"),
        )
    })
}

/// Records of the audit trail, oldest first: `?user=` (userName or id: the user's records and
/// those of the groups it was a member of), `group=`, `account=`, `action=`, `since=`,
/// `until=`, `after=` (a seq, for the next page) and `limit=` (default 100, at most 10,000).
async fn audit(
    State(state): State<AppState>,
    q: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let Query(q) = q.map_err(|e| AdminError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let records = crate::store::audit::query_by_names(
        &state.store,
        crate::store::audit::Names {
            tenant: q.tenant,
            user: q.user,
            group: q.group,
            account: q.account,
            action: q.action,
            since: audit_time("since", q.since)?,
            until: audit_time("until", q.until)?,
            after: q.after,
            limit: q.limit.unwrap_or(100),
        },
    )
    .await?;
    let next = records.last().map(|r| r.seq);
    let items: Vec<Value> = records.iter().map(|r| r.to_json()).collect();
    Ok(Json(json!({"records": items, "count": items.len(), "next": next})))
}

/// Seals what is committed, then walks the chain: `{"ok": true, ...}` or the first break.
async fn audit_verify(State(state): State<AppState>) -> Result<Json<Value>, AdminError> {
    state.store.audit_seal().await?;
    let v = state.store.audit_verify().await?;
    let mut out = serde_json::to_value(&v).unwrap_or(Value::Null);
    out["ok"] = v.problem.is_none().into();
    Ok(Json(out))
}
