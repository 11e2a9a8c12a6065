//! The SCIM 2.0 HTTP surface under `/scim/v2`.

mod discovery;
mod resources;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::Value;

use super::AppState;
use super::error::{ApiError, SCIM_CONTENT_TYPE};
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

/// Reads a JSON request body within the size limit. Accepts `application/scim+json` and
/// `application/json` (Okta's SPEC test and Microsoft's collection send the latter), with any
/// parameters, and a missing Content-Type.
pub async fn read_json(req: Request, limit: usize) -> Result<Value, ScimError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if !(essence == "application/scim+json"
            || essence == "application/json"
            || essence.ends_with("+json")
            || essence.is_empty())
        {
            return Err(ScimError::new(
                415,
                None,
                format!("unsupported Content-Type \"{essence}\"; send application/scim+json"),
            ));
        }
    }
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ScimError::new(413, None, format!("request body larger than {limit} bytes")))?;
    if bytes.is_empty() {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}

/// The SCIM base URL (`…/scim/v2`) for `meta.location`: the configured public URL, else the
/// request's Host.
pub fn base_url(settings: &super::Settings, headers: &HeaderMap) -> String {
    if let Some(u) = &settings.public_url {
        return format!("{}/scim/v2", u.trim_end_matches('/'));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/scim/v2")
}

pub fn location(base: &str, kind: ResourceKind, id: &str) -> String {
    format!("{base}{}/{id}", kind.endpoint())
}

pub(super) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}
