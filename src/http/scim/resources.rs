//! Users and Groups: the same protocol over two resource kinds. Handlers translate requests
//! into calls of the provisioning layer (`crate::provision`) or store reads, and outcomes into
//! SCIM responses; the rules of a write live in the provisioning layer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{BaseUrl, ResourceId, empty, location, read_json, scim_json};
use crate::http::AppState;
use crate::http::auth::Tenant;
use crate::http::error::{ApiError, refusal_response};
use crate::scim::ScimError;
use crate::scim::filter::{self, AttrPath};
use crate::scim::model::{self, Meta, Projection};
use crate::scim::patch;
use crate::scim::schema::{self, ResourceKind};
use crate::store::{IfMatch, Link, ListQuery, Origin, Row};

type Result<T> = std::result::Result<T, ApiError>;

/// Query parameters of a SCIM request, keys matched case-insensitively (the last of a
/// repeated key wins). A request has a handful, so a scan beats hashing.
struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes `application/x-www-form-urlencoded` strictly: a name or value whose bytes are
    /// not UTF-8, or that holds U+0000, is refused rather than decoded with replacement
    /// characters (a filter for `U+FFFD` is not what the client asked for).
    fn parse(raw: Option<&str>) -> Result<Params> {
        let mut pairs = Vec::new();
        for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode_component(key)
                .ok_or_else(|| ScimError::invalid_value("a query parameter name is not UTF-8 text without U+0000"))?;
            let value = decode_component(value).ok_or_else(|| {
                let detail = format!("the query parameter {key} is not UTF-8 text without U+0000");
                if key.eq_ignore_ascii_case("filter") {
                    ScimError::invalid_filter(detail)
                } else {
                    ScimError::invalid_value(detail)
                }
            })?;
            pairs.push((key, value));
        }
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

/// One component of a query string: `+` is a space, then percent-decoding; `None` when the
/// bytes are not UTF-8 or hold U+0000.
fn decode_component(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&spaced).decode_utf8().ok()?;
    (!decoded.contains('\0')).then(|| decoded.into_owned())
}

/// `If-Match`, if sent. A value that is not ASCII text cannot be one of our tags (`W/"n"`), so
/// it matches nothing, as other tags that are not ours: never ignored, which would let the
/// write through unconditionally.
fn if_match(headers: &HeaderMap) -> Option<IfMatch> {
    headers.get(header::IF_MATCH).map(|v| match v.to_str() {
        Ok(s) => IfMatch::parse(s),
        Err(_) => IfMatch::Versions(Vec::new()),
    })
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
    BaseUrl(base): BaseUrl,
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
    base: BaseUrl,
    raw: Option<String>,
) -> Result<Response> {
    let params = Params::parse(raw.as_deref())?;
    let row = state
        .store
        .get(kind, &tenant.name, &id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("{} {id} not found", kind.name())))?;
    respond_with(&state, kind, &tenant, &row, &base, &params, StatusCode::OK).await
}

async fn respond_with(
    state: &AppState,
    kind: ResourceKind,
    tenant: &Tenant,
    row: &Row,
    BaseUrl(base): &BaseUrl,
    params: &Params,
    status: StatusCode,
) -> Result<Response> {
    let mut rendered = render_rows(state, kind, tenant, vec![row.clone()], base, &params.projection(kind)).await?;
    let body = rendered.pop().ok_or_else(ScimError::internal)?;
    let loc = location(base, kind, &row.id);
    Ok(with_etag(
        scim_json(status, &body),
        row.version,
        (status == StatusCode::CREATED).then_some(loc.as_str()),
    ))
}

/// Who makes the request, for the audit trail (set by the authentication middleware).
fn origin_of(req: &Request) -> Origin {
    req.extensions()
        .get::<Origin>()
        .cloned()
        .unwrap_or_else(|| Origin::system("unknown"))
}

async fn create(state: AppState, kind: ResourceKind, tenant: Arc<Tenant>, req: Request) -> Result<Response> {
    let base = BaseUrl::of(&state.settings, req.extensions());
    let params = Params::parse(req.uri().query())?;
    let origin = origin_of(&req);
    let body = read_json(req, &state.settings).await?;
    let n = model::normalize(kind, &body)?;
    match state
        .provision
        .create(kind, &tenant.name, n.doc, n.members, &origin)
        .await
    {
        Ok(row) => respond_with(&state, kind, &tenant, &row, &base, &params, StatusCode::CREATED).await,
        Err(refusal) => Ok(refusal_response(refusal, kind, None)),
    }
}

async fn replace(
    state: AppState,
    kind: ResourceKind,
    tenant: Arc<Tenant>,
    id: String,
    req: Request,
) -> Result<Response> {
    let headers = req.headers().clone();
    let base = BaseUrl::of(&state.settings, req.extensions());
    let params = Params::parse(req.uri().query())?;
    let origin = origin_of(&req);
    let body = read_json(req, &state.settings).await?;
    let n = model::normalize(kind, &body)?;
    let replaced = state
        .provision
        .replace(
            kind,
            &tenant.name,
            &id,
            if_match(&headers).as_ref(),
            n.doc,
            n.members,
            &origin,
        )
        .await;
    match replaced {
        Ok(row) => respond_with(&state, kind, &tenant, &row, &base, &params, StatusCode::OK).await,
        Err(refusal) => Ok(refusal_response(refusal, kind, Some(&id))),
    }
}

async fn patch_one(
    state: AppState,
    kind: ResourceKind,
    tenant: Arc<Tenant>,
    id: String,
    req: Request,
) -> Result<Response> {
    let headers = req.headers().clone();
    let base = BaseUrl::of(&state.settings, req.extensions());
    let params = Params::parse(req.uri().query())?;
    let origin = origin_of(&req);
    let body = read_json(req, &state.settings).await?;
    let ops = patch::parse_request(&body)?;
    let row = match state
        .provision
        .patch(kind, &tenant.name, &id, if_match(&headers).as_ref(), ops, &origin)
        .await
    {
        Ok(row) => row,
        Err(refusal) => return Ok(refusal_response(refusal, kind, Some(&id))),
    };
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
        respond_with(&state, kind, &tenant, &row, &base, &params, StatusCode::OK).await
    } else {
        Ok(with_etag(empty(StatusCode::NO_CONTENT), row.version, None))
    }
}

async fn delete_one(
    state: AppState,
    kind: ResourceKind,
    tenant: Arc<Tenant>,
    id: String,
    origin: Origin,
    headers: HeaderMap,
) -> Result<Response> {
    match state
        .provision
        .delete(kind, &tenant.name, &id, if_match(&headers).as_ref(), &origin)
        .await
    {
        Ok(()) => Ok(empty(StatusCode::NO_CONTENT)),
        Err(refusal) => Ok(refusal_response(refusal, kind, Some(&id))),
    }
}

// Thin per-kind wrappers: axum handlers cannot take the kind as an argument.

pub async fn list_users(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    b: BaseUrl,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    list(s, ResourceKind::User, t, b, q).await
}
pub async fn list_groups(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    b: BaseUrl,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    list(s, ResourceKind::Group, t, b, q).await
}
pub async fn get_user(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    ResourceId(id): ResourceId,
    b: BaseUrl,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    get_one(s, ResourceKind::User, t, id, b, q).await
}
pub async fn get_group(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    ResourceId(id): ResourceId,
    b: BaseUrl,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    get_one(s, ResourceKind::Group, t, id, b, q).await
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
    ResourceId(id): ResourceId,
    req: Request,
) -> Result<Response> {
    replace(s, ResourceKind::User, t, id, req).await
}
pub async fn replace_group(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    ResourceId(id): ResourceId,
    req: Request,
) -> Result<Response> {
    replace(s, ResourceKind::Group, t, id, req).await
}
pub async fn patch_user(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    ResourceId(id): ResourceId,
    req: Request,
) -> Result<Response> {
    patch_one(s, ResourceKind::User, t, id, req).await
}
pub async fn patch_group(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    ResourceId(id): ResourceId,
    req: Request,
) -> Result<Response> {
    patch_one(s, ResourceKind::Group, t, id, req).await
}
pub async fn delete_user(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    Extension(o): Extension<Origin>,
    ResourceId(id): ResourceId,
    h: HeaderMap,
) -> Result<Response> {
    delete_one(s, ResourceKind::User, t, id, o, h).await
}
pub async fn delete_group(
    State(s): State<AppState>,
    Extension(t): Extension<Arc<Tenant>>,
    Extension(o): Extension<Origin>,
    ResourceId(id): ResourceId,
    h: HeaderMap,
) -> Result<Response> {
    delete_one(s, ResourceKind::Group, t, id, o, h).await
}
