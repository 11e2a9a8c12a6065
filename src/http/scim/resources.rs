//! Users and Groups: the same protocol over two resource kinds.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{base_url, empty, location, read_json, scim_json};
use crate::http::AppState;
use crate::http::auth::Tenant;
use crate::http::error::ApiError;
use crate::scim::ScimError;
use crate::scim::filter::{self, AttrPath};
use crate::scim::model::{self, Meta, Projection};
use crate::scim::patch;
use crate::scim::schema::{self, ResourceKind};
use crate::store::{IfMatch, Link, ListQuery, Replacement, Row};

type Result<T> = std::result::Result<T, ApiError>;

/// Query parameters of a SCIM request, keys matched case-insensitively.
struct Params(HashMap<String, String>);

impl Params {
    fn parse(raw: Option<&str>) -> Result<Params> {
        let pairs: Vec<(String, String)> = match raw {
            Some(q) => {
                serde_urlencoded::from_str(q).map_err(|_| ScimError::invalid_syntax("malformed query string"))?
            }
            None => Vec::new(),
        };
        Ok(Params(
            pairs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect(),
        ))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(&key.to_ascii_lowercase()).map(String::as_str)
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
    rows: &[Row],
    base: &str,
    proj: &Projection,
) -> Result<Vec<Value>> {
    let link_attr = match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    };
    let mut links: HashMap<String, Vec<Value>> = HashMap::new();
    let load_links = proj.includes(link_attr);
    if load_links && !rows.is_empty() {
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let linked_kind = match kind {
            ResourceKind::User => ResourceKind::Group,
            ResourceKind::Group => ResourceKind::User,
        };
        for (owner, Link { id, display }) in state.store.links(kind, &tenant.name, &ids).await? {
            let mut m = Map::new();
            m.insert("value".into(), Value::String(id.clone()));
            m.insert("$ref".into(), Value::String(location(base, linked_kind, &id)));
            m.insert("display".into(), Value::String(display));
            m.insert(
                "type".into(),
                Value::String(if kind == ResourceKind::User { "direct" } else { "User" }.into()),
            );
            links.entry(owner).or_default().push(Value::Object(m));
        }
    }
    Ok(rows
        .iter()
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
            proj.apply(model::render(kind, &r.doc, &meta, extra))
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
    let query = ListQuery {
        filter: parsed_filter.as_ref(),
        sort_by: sort_by.as_ref(),
        descending,
        offset: start - 1,
        limit: count,
    };
    let (total, rows) = state.store.list(kind, &tenant.name, &query).await?;
    let base = base_url(&state.settings, &headers);
    let resources = render_rows(&state, kind, &tenant, &rows, &base, &params.projection(kind)).await?;
    let body = json!({
        "schemas": [schema::LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
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
    let mut rendered = render_rows(
        state,
        kind,
        tenant,
        std::slice::from_ref(row),
        &base,
        &params.projection(kind),
    )
    .await?;
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
    let row = state.store.create(kind, &tenant.name, n.doc, n.members).await?;
    tracing::info!(kind = kind.name(), id = %row.id, "created");
    respond_with(&state, kind, &tenant, &row, &headers, &params, StatusCode::CREATED).await
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
    let row = state
        .store
        .replace(
            kind,
            &tenant.name,
            &id,
            if_match(&headers).as_ref(),
            Replacement {
                doc: n.doc,
                members: n.members,
            },
        )
        .await?;
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
    let row = state
        .store
        .patch(kind, &tenant.name, &id, if_match(&headers).as_ref(), move |current| {
            patch::apply(kind, &rid, &current.doc, &ops)
        })
        .await?;
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
