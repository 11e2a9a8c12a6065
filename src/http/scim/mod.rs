//! The SCIM 2.0 HTTP surface under `/scim/v2`.

mod discovery;
mod resources;

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::Value;

use super::AppState;
use super::error::{ApiError, SCIM_CONTENT_TYPE};
use super::serve::LocalAddr;
use crate::scim::ScimError;
use crate::scim::schema::ResourceKind;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/Users", get(resources::list_users).post(resources::create_user))
        .route(
            "/Users/{id}",
            get(resources::get_user)
                .put(resources::replace_user)
                .patch(resources::patch_user)
                .delete(resources::delete_user),
        )
        .route("/Groups", get(resources::list_groups).post(resources::create_group))
        .route(
            "/Groups/{id}",
            get(resources::get_group)
                .put(resources::replace_group)
                .patch(resources::patch_group)
                .delete(resources::delete_group),
        )
        .route("/ServiceProviderConfig", get(discovery::service_provider_config))
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{name}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        // Advertised as unsupported in /ServiceProviderConfig (profiles reference §1.1).
        .route("/Bulk", any(not_implemented))
        .route("/Me", any(not_implemented))
        .route("/.search", any(not_implemented))
        .route("/Users/.search", any(not_implemented))
        .route("/Groups/.search", any(not_implemented))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_implemented() -> ApiError {
    ApiError(ScimError::new(
        501,
        None,
        "this endpoint is not supported; see /ServiceProviderConfig",
    ))
}

async fn not_found() -> ApiError {
    ApiError(ScimError::not_found("no such SCIM endpoint"))
}

async fn method_not_allowed() -> ApiError {
    ApiError(ScimError::new(405, None, "method not allowed on this endpoint"))
}

/// A SCIM JSON response with its content type.
pub fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_CONTENT_TYPE));
    resp
}

/// Reads a JSON request body (`scim::json::parse`: no duplicate keys, no U+0000) within the
/// size limit and the body timeout. Accepts `application/scim+json` and `application/json`
/// (Okta's SPEC test and Microsoft's collection send the latter) and other `+json` types, with
/// any parameters but a charset other than UTF-8 (RFC 8259 §8.1), and a missing Content-Type.
pub async fn read_json(req: Request, settings: &super::Settings) -> Result<Value, ScimError> {
    check_content_type(req.headers())?;
    let limit = settings.max_body_bytes;
    let too_large = || ScimError::new(413, None, format!("request body larger than {limit} bytes"));
    // A declared length over the limit is refused before a byte of the body is read (and
    // before hyper answers `Expect: 100-continue`); a chunked body is cut at the limit.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // A client that trickles its body would otherwise hold the request until the request
    // timeout (503, which the IdPs retry); 408 says the fault is the client's. hyper closes the
    // connection after the answer, since the body was not read to its end.
    let timeout = settings.body_timeout;
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(req.into_body(), limit)).await {
        Err(_) => {
            return Err(ScimError::new(
                408,
                None,
                format!("the request body did not arrive within {} s", timeout.as_secs()),
            ));
        }
        Ok(Err(_)) => return Err(too_large()),
        Ok(Ok(bytes)) => bytes,
    };
    if bytes.is_empty() {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    crate::scim::json::parse(&bytes)
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ScimError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let unsupported = |what: &str| {
        ScimError::new(
            415,
            None,
            format!("unsupported Content-Type {what}; send application/scim+json"),
        )
    };
    let ct = ct.to_str().map_err(|_| unsupported("(not ASCII text)"))?;
    let mut parts = ct.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if !(essence == "application/scim+json"
        || essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
        || essence.is_empty())
    {
        return Err(unsupported(&format!("\"{essence}\"")));
    }
    for param in parts {
        if let Some((name, value)) = param.split_once('=') {
            let value = value.trim().trim_matches('"');
            if name.trim().eq_ignore_ascii_case("charset")
                && !(value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8"))
            {
                return Err(unsupported(&format!("\"{essence}\" with charset \"{value}\"")));
            }
        }
    }
    Ok(())
}

/// The SCIM base URL (`…/scim/v2`) for `meta.location`, `Location` and `$ref`:
/// `server.public_url`, else `http://` and the local address the client connected to.
///
/// Never the request's `Host` header: any client can send any Host, and the URL it makes is
/// returned to the IdP, which may store it and follow it (and a proxy may cache the answer).
/// Refusing Hosts other than configured names would need a list the operator keeps in step
/// with DNS; the address the connection reached needs nothing, is right for a client that
/// connects directly (development, `serve --dev`, an internal network), and a deployment
/// behind a proxy sets `server.public_url` anyway.
pub struct BaseUrl(pub String);

impl BaseUrl {
    pub fn of(settings: &super::Settings, extensions: &Extensions) -> BaseUrl {
        BaseUrl(match (&settings.public_url, extensions.get::<LocalAddr>()) {
            (Some(u), _) => format!("{}/scim/v2", u.trim_end_matches('/')),
            (None, Some(LocalAddr(addr))) => format!("http://{addr}/scim/v2"),
            // Only a router called without `http::serve` (unit tests) lacks the address.
            (None, None) => "http://localhost/scim/v2".to_string(),
        })
    }
}

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(BaseUrl::of(&state.settings, &parts.extensions))
    }
}

/// The `{id}` of a resource URL, percent-decoded. Bytes that are not UTF-8, or U+0000 (which
/// no id holds, and PostgreSQL cannot compare with), answer a SCIM `400 invalidValue` rather
/// than axum's plain-text rejection.
pub struct ResourceId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ResourceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await.map_err(|e| {
            ApiError(ScimError::invalid_value(format!(
                "the id in the URL cannot be read: {}",
                e.body_text()
            )))
        })?;
        if id.contains('\0') {
            return Err(ApiError(ScimError::invalid_value(
                "the id in the URL contains the NUL character (U+0000)",
            )));
        }
        Ok(ResourceId(id))
    }
}

pub fn location(base: &str, kind: ResourceKind, id: &str) -> String {
    format!("{base}{}/{id}", kind.endpoint())
}

pub(super) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}
