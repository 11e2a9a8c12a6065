//! Users and Groups: the same protocol over two resource kinds.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{base_url, empty, location, read_json, scim_json};
use crate::config::OnUsernameChange;
use crate::engine::mapping;
use crate::http::AppState;
use crate::http::auth::Tenant;
use crate::http::error::ApiError;
use crate::scim::ScimError;
use crate::scim::filter::{self, AttrPath};
use crate::scim::model::{self, Meta, Projection};
use crate::scim::patch;
use crate::scim::schema::{self, ResourceKind};
use crate::store::{IfMatch, Link, ListQuery, OpState, Row};

type Result<T> = std::result::Result<T, ApiError>;

/// Query parameters of a SCIM request, keys matched case-insensitively (the last of a
/// repeated key wins). A request has a handful, so a scan beats hashing.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: Option<&str>) -> Result<Params> {
        let pairs: Vec<(String, String)> = match raw {
            Some(q) => {
                serde_urlencoded::from_str(q).map_err(|_| ScimError::invalid_syntax("malformed query string"))?
            }
            None => Vec::new(),
        };
        Ok(Params(pairs))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn projection(&self, kind: ResourceKind) -> Projection {
        Projection::parse(kind, self.get("attributes"), self.get("excludedAttributes"))
    }

    fn int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key).map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
                ApiError(ScimError::invalid_value(format!(
                    "{key} must be an integer, got \"{s}\""
                )))
            }),
        }
    }
}

fn if_match(headers: &HeaderMap) -> Option<IfMatch> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(IfMatch::parse)
}

/// Renders rows, loading `members`/`groups` in one query when the projection wants them.
async fn render_rows(
    state: &AppState,
    kind: ResourceKind,
    tenant: &Tenant,
    rows: Vec<Row>,
    base: &str,
    proj: &Projection,
) -> Result<Vec<Value>> {
    let link_attr = match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    };
    let mut links: HashMap<String, Vec<Value>> = HashMap::new();
    let load_links = proj.includes(link_attr);
    let linked_kind = match kind {
        ResourceKind::User => ResourceKind::Group,
        ResourceKind::Group => ResourceKind::User,
    };
    let link_value = |Link { id, display }: Link| {
        let reference = location(base, linked_kind, &id);
        let mut m = Map::new();
        m.insert("value".into(), Value::String(id));
        m.insert("$ref".into(), Value::String(reference));
        m.insert("display".into(), Value::String(display));
        m.insert(
            "type".into(),
            Value::String(if kind == ResourceKind::User { "direct" } else { "User" }.into()),
        );
        Value::Object(m)
    };
    if load_links && !rows.is_empty() {
        if rows.iter().all(|r| r.links.is_some()) {
            // Loaded with the rows (users' groups): no second query.
            for r in &rows {
                let l: Vec<Value> = r.links.iter().flatten().cloned().map(link_value).collect();
                links.insert(r.id.clone(), l);
            }
        } else {
            let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            for (owner, link) in state.store.links(kind, &tenant.name, &ids).await? {
                links.entry(owner).or_default().push(link_value(link));
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let meta = Meta {
                id: &r.id,
                created: &r.created,
                last_modified: &r.last_modified,
                version: r.version,
                location: location(base, kind, &r.id),
            };
            // A group always shows its member list (possibly empty); a user shows `groups`
            // only when it has some, as RFC 7643's examples do.
            let extra = if load_links {
                let l = links.remove(&r.id).unwrap_or_default();
                if kind == ResourceKind::Group || !l.is_empty() {
                    Some(l)
                } else {
                    None
                }
            } else {
                None
            };
            let rendered = model::render(kind, r.doc, &meta, extra);
            proj.apply(rendered)
        })
        .collect())
}

fn with_etag(mut resp: Response, version: i64, loc: Option<&str>) -> Response {
    if let Ok(v) = HeaderValue::from_str(&model::etag(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if let Some(loc) = loc.and_then(|l| HeaderValue::from_str(l).ok()) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    resp
}

/// Parses `sortBy` into an attribute path.
fn sort_path(kind: ResourceKind, s: &str) -> Result<AttrPath> {
    let (urn, attr, sub) = schema::split_path(kind, s.trim());
    if attr.is_empty() {
        return Err(ApiError(ScimError::invalid_value("sortBy is empty")));
    }
    Ok(AttrPath { urn, attr, sub })
}

async fn list(
    state: AppState,
    kind: ResourceKind,
    tenant: Arc<Tenant>,
    headers: HeaderMap,
    raw: Option<String>,
) -> Result<Response> {
    let params = Params::parse(raw.as_deref())?;
    let parsed_filter = match params.get("filter").map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => Some(filter::parse(f).map_err(|e| ScimError::invalid_filter(format!("filter \"{f}\": {e}")))?),
        None => None,
    };
    // RFC 7644 §3.4.2.4: startIndex below 1 is 1, a negative count is 0.
    let start = params.int("startIndex")?.unwrap_or(1).max(1);
    let max = i64::from(state.settings.max_page_size);
    let count = params
        .int("count")?
        .unwrap_or(i64::from(state.settings.default_page_size))
        .clamp(0, max);
    let sort_by = params.get("sortBy").map(|s| sort_path(kind, s)).transpose()?;
    let descending = match params.get("sortOrder").map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("ascending") => false,
        Some("descending") => true,
        Some(other) => {
            return Err(ApiError(ScimError::invalid_value(format!(
                "sortOrder must be ascending or descending, got \"{other}\""
            ))));
        }
    };
    let projection = params.projection(kind);
    let query = ListQuery {
        filter: parsed_filter.as_ref(),
        sort_by: sort_by.as_ref(),
        descending,
        offset: start - 1,
        limit: count,
        with_links: projection.includes("groups"),
    };
    let (total, rows) = state.store.list(kind, &tenant.name, &query).await?;
    let base = base_url(&state.settings, &headers);
    let resources = render_rows(&state, kind, &tenant, rows, &base, &projection).await?;
    // Built by hand: `json!` would serialise `resources` into a second copy.
    let mut body = Map::with_capacity(5);
    body.insert("schemas".into(), json!([schema::LIST_RESPONSE_SCHEMA]));
    body.insert("totalResults".into(), json!(total));
    body.insert("startIndex".into(), json!(start));
    body.insert("itemsPerPage".into(), json!(resources.len()));
    body.insert("Resources".into(), Value::Array(resources));
    let body = Value::Object(body);
    Ok(scim_json(StatusCode::OK, &body))
}

async fn get_one(
    state: AppState,
    kind: ResourceKind,
    tenant: Arc<Tenant>,
    id: String,
    headers: HeaderMap,
    raw: Option<String>,
) -> Result<Response> {
    let params = Params::parse(raw.as_deref())?;
    let row = state
        .store
        .get(kind, &tenant.name, &id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("{} {id} not found", kind.name())))?;
    respond_with(&state, kind, &tenant, &row, &headers, &params, StatusCode::OK).await
}

async fn respond_with(
    state: &AppState,
    kind: ResourceKind,
    tenant: &Tenant,
    row: &Row,
    headers: &HeaderMap,
    params: &Params,
    status: StatusCode,
) -> Result<Response> {
    let base = base_url(&state.settings, headers);
    let mut rendered = render_rows(state, kind, tenant, vec![row.clone()], &base, &params.projection(kind)).await?;
    let body = rendered.pop().ok_or_else(ScimError::internal)?;
    let loc = location(&base, kind, &row.id);
    Ok(with_etag(
        scim_json(status, &body),
        row.version,
        (status == StatusCode::CREATED).then_some(loc.as_str()),
    ))
}

async fn create(state: AppState, kind: ResourceKind, tenant: Arc<Tenant>, req: Request) -> Result<Response> {
    let headers = req.headers().clone();
    let params = Params::parse(req.uri().query())?;
    let body = read_json(req, state.settings.max_body_bytes).await?;
    let mut n = model::normalize(kind, &body)?;
    model::default_active(kind, &mut n.doc);
    check_user_name(kind, &n.doc)?;
    let (row, op_id) = state.store.create(kind, &tenant.name, n.doc, n.members).await?;
    tracing::info!(kind = kind.name(), id = %row.id, op = op_id, "created");
    state.engine.notify();
    if state.engine.is_live(&tenant.name) {
        if let Some(response) = create_outcome(&state, kind, &tenant, &row, op_id).await? {
            return Ok(response);
        }
    }
    respond_with(&state, kind, &tenant, &row, &headers, &params, StatusCode::CREATED).await
}

/// Waits (up to `engine.create_wait_ms`) for the create to reach Identity Center, so the IdP
/// hears about conflicts and full quotas. `None`: answer 201 (done, or still in progress and
/// finishing in the background).
async fn create_outcome(
    state: &AppState,
    kind: ResourceKind,
    tenant: &Tenant,
    row: &Row,
    op_id: i64,
) -> Result<Option<Response>> {
    let Some(status) = state.engine.wait_for(op_id, state.settings.create_wait).await else {
        return Ok(None);
    };
    let error = format!(
        "{}{}{}",
        status
            .error_code
            .as_deref()
            .map(|c| format!("{c}: "))
            .unwrap_or_default(),
        status.last_error.as_deref().unwrap_or("refused by Identity Center"),
        status
            .error_request_id
            .as_deref()
            .map(|r| format!(" (Identity Center RequestId {r})"))
            .unwrap_or_default()
    );
    match status.state {
        OpState::Failed if state.store.get(kind, &tenant.name, &row.id).await?.is_none() => {
            // The engine rolled the create back: Identity Center refused the resource.
            let conflict = status
                .error_code
                .as_deref()
                .is_some_and(|c| c.ends_with("AlreadyExists"));
            Err(ApiError(if conflict {
                ScimError::uniqueness(error)
            } else {
                ScimError::invalid_value(error)
            }))
        }
        OpState::Parked => {
            let abandoned = state
                .store
                .abandon_parked_create(op_id, &tenant.name, kind, &row.id, state.engine.now())
                .await?;
            if !abandoned {
                return Ok(None);
            }
            // 429 with Retry-After: Okta schedules a retry of the job after the delay, and Entra
            // retries failed exports in later cycles; nothing is kept, so the retry is a fresh
            // create (README, "Conflicts and quotas").
            let retry_after = state.engine.config.park_recheck_secs.max(60);
            let mut resp = crate::http::error::scim_error_response(&ScimError::new(
                429,
                None,
                format!(
                    "the Identity Center zone {} is full: {error}; retry later",
                    tenant.zone_id
                ),
            ));
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(Some(resp))
        }
        _ => Ok(None),
    }
}

/// Identity Center user names are 1-64 characters of `[0-9A-Za-z+=,.@_-]`: anything else
/// could never be provisioned, so the IdP hears it now rather than from a failed operation.
fn check_user_name(kind: ResourceKind, doc: &Map<String, Value>) -> Result<()> {
    if kind != ResourceKind::User {
        return Ok(());
    }
    let name = doc.get("userName").and_then(Value::as_str).unwrap_or_default();
    match mapping::user_name_problem(name) {
        Some(problem) => Err(ApiError(ScimError::invalid_value(problem))),
        None => Ok(()),
    }
}

/// With `on_username_change = "reject"`, a user that exists in Identity Center keeps its
/// userName (Identity Center user names are immutable). Whether it exists is read in the write
/// transaction (`Store::patch` with `read_link`): a check made before it could be overtaken
/// by the engine saving the user's link.
fn rename_policy_applies(state: &AppState, kind: ResourceKind, tenant: &Tenant) -> bool {
    kind == ResourceKind::User
        && state
            .engine
            .tenant(&tenant.name)
            .is_some_and(|t| t.on_username_change == OnUsernameChange::Reject)
}

fn check_rename(
    allowed: bool,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> std::result::Result<(), ScimError> {
    let name = |d: &Map<String, Value>| d.get("userName").and_then(Value::as_str).map(str::to_owned);
    if !allowed && name(old) != name(new) {
        return Err(ScimError::mutability(format!(
            "userName cannot change from {:?}: Identity Center user names are immutable (on_username_change = \"reject\")",
            name(old).unwrap_or_default()
        )));
    }
    Ok(())
}

async fn replace(
    state: AppState,
    kind: ResourceKind,
    tenant: Arc<Tenant>,
    id: String,
    req: Request,
) -> Result<Response> {
    let headers = req.headers().clone();
    let params = Params::parse(req.uri().query())?;
    let body = read_json(req, state.settings.max_body_bytes).await?;
    let n = model::normalize(kind, &body)?;
    check_user_name(kind, &n.doc)?;
    let row = state
        .store
        .patch(
            kind,
            &tenant.name,
            &id,
            if_match(&headers).as_ref(),
            rename_policy_applies(&state, kind, &tenant),
            move |current, linked| {
                check_rename(!linked, &current.doc, &n.doc)?;
                Ok(patch::PatchOutcome {
                    doc: n.doc,
                    member_edits: n.members.map(patch::MemberEdit::Replace).into_iter().collect(),
                })
            },
        )
        .await?;
    state.engine.notify();
    respond_with(&state, kind, &tenant, &row, &headers, &params, StatusCode::OK).await
}

async fn patch_one(
    state: AppState,
    kind: ResourceKind,
    tenant: Arc<Tenant>,
    id: String,
    req: Request,
) -> Result<Response> {
    let headers = req.headers().clone();
    let params = Params::parse(req.uri().query())?;
    let body = read_json(req, state.settings.max_body_bytes).await?;
    let ops = patch::parse_request(&body)?;
    let rid = id.clone();
    let read_link = rename_policy_applies(&state, kind, &tenant);
    let row = state
        .store
        .patch(
            kind,
            &tenant.name,
            &id,
            if_match(&headers).as_ref(),
            read_link,
            move |current, linked| {
                let outcome = patch::apply(kind, &rid, &current.doc, &ops)?;
                if kind == ResourceKind::User {
                    let name = outcome.doc.get("userName").and_then(Value::as_str).unwrap_or_default();
                    if let Some(problem) = mapping::user_name_problem(name) {
                        return Err(ScimError::invalid_value(problem));
                    }
                    check_rename(!linked, &current.doc, &outcome.doc)?;
                }
                Ok(outcome)
            },
        )
        .await?;
    state.engine.notify();
    // RFC 7644 §3.5.2 allows 200 with the resource or 204. Microsoft's collection expects 204,
    // Okta accepts both; a client that wants the resource asks with `attributes` or
    // `excludedAttributes`, or with `Prefer: return=representation`.
    let wants_body = params.get("attributes").is_some()
        || params.get("excludedAttributes").is_some()
        || headers
            .get("prefer")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("return=representation"));
    if wants_body {
        respond_with(&state, kind, &tenant, &row, &headers, &params, StatusCode::OK).await
    } else {
        Ok(with_etag(empty(StatusCode::NO_CONTENT), row.version, None))
    }
}

async fn delete_one(
    state: AppState,
    kind: ResourceKind,
    tenant: Arc<Tenant>,
    id: String,
    headers: HeaderMap,
) -> Result<Response> {
    state
        .store
        .delete(kind, &tenant.name, &id, if_match(&headers).as_ref())
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => {
                ApiError(ScimError::not_found(format!("{} {id} not found", kind.name())))
            }
            other => ApiError::from(other),
        })?;
    tracing::info!(kind = kind.name(), id = %id, "deleted");
    state.engine.notify();
    Ok(empty(StatusCode::NO_CONTENT))
}

fn not_found_as(kind: ResourceKind, id: &str) -> impl Fn(ApiError) -> ApiError + '_ {
    move |e| match e.0 {
        ScimError { status: 404, .. } => ApiError(ScimError::not_found(format!("{} {id} not found", kind.name()))),
        other => ApiError(other),
    }
}

// Thin per-kind wrappers: axum handlers cannot take the kind as an argument.

pub async fn list_users(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    list(s, ResourceKind::User, t, h, q).await
}
pub async fn list_groups(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    list(s, ResourceKind::Group, t, h, q).await
}
pub async fn get_user(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    Path(id): Path<String>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    get_one(s, ResourceKind::User, t, id, h, q).await
}
pub async fn get_group(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    Path(id): Path<String>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    get_one(s, ResourceKind::Group, t, id, h, q).await
}
pub async fn create_user(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    req: Request,
) -> Result<Response> {
    create(s, ResourceKind::User, t, req).await
}
pub async fn create_group(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    req: Request,
) -> Result<Response> {
    create(s, ResourceKind::Group, t, req).await
}
pub async fn replace_user(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response> {
    replace(s, ResourceKind::User, t, id.clone(), req)
        .await
        .map_err(not_found_as(ResourceKind::User, &id))
}
pub async fn replace_group(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response> {
    replace(s, ResourceKind::Group, t, id.clone(), req)
        .await
        .map_err(not_found_as(ResourceKind::Group, &id))
}
pub async fn patch_user(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response> {
    patch_one(s, ResourceKind::User, t, id.clone(), req)
        .await
        .map_err(not_found_as(ResourceKind::User, &id))
}
pub async fn patch_group(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response> {
    patch_one(s, ResourceKind::Group, t, id.clone(), req)
        .await
        .map_err(not_found_as(ResourceKind::Group, &id))
}
pub async fn delete_user(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    Path(id): Path<String>,
    h: HeaderMap,
) -> Result<Response> {
    delete_one(s, ResourceKind::User, t, id, h).await
}
pub async fn delete_group(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    Path(id): Path<String>,
    h: HeaderMap,
) -> Result<Response> {
    delete_one(s, ResourceKind::Group, t, id, h).await
}
