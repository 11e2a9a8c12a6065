//! The one mapping from errors to HTTP responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::scim::ScimError;
use crate::scim::schema::ERROR_SCHEMA;
use crate::store::StoreError;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// An error leaving a SCIM handler.
#[derive(Debug)]
pub struct ApiError(pub ScimError);

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        ApiError(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(match e {
            StoreError::NotFound => ScimError::not_found("resource not found"),
            StoreError::Conflict(detail) => ScimError::uniqueness(detail),
            StoreError::PreconditionFailed => {
                ScimError::precondition_failed("the resource was modified: If-Match does not match its current version")
            }
            StoreError::UnknownMembers(ids) => ScimError::invalid_value(format!(
                "members refer to users that do not exist in this tenant: {}",
                ids.join(", ")
            )),
            StoreError::Scim(e) => e,
            // Nothing was stored, and the same request succeeds once the store commits again:
            // 503 with Retry-After is what Okta and Entra retry (they do not retry a 500).
            StoreError::Unavailable { reason, source } => {
                tracing::warn!(reason, error = %source, "write refused: the store cannot commit");
                ScimError::unavailable(format!(
                    "the store cannot commit writes now ({reason}); nothing was stored, retry later"
                ))
            }
            StoreError::Busy(source) => {
                tracing::info!(error = %source, "write refused: transaction conflict");
                ScimError::unavailable("the write met a concurrent one; nothing was stored, retry")
            }
            other => {
                // The cause is logged once here, inside the request span; the body says little.
                tracing::error!(error = %other, "store failure");
                ScimError::internal()
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        scim_error_response(&self.0)
    }
}

pub fn scim_error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = json!({
        "schemas": [ERROR_SCHEMA],
        // RFC 7644 §3.12: status is a string.
        "status": e.status.to_string(),
        "detail": e.detail,
    });
    if let Some(t) = e.scim_type {
        body["scimType"] = json!(t.as_str());
    }
    let mut resp = (status, body.to_string()).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_CONTENT_TYPE));
    if e.status == 401 {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"cic-bridge\""),
        );
    }
    if e.status == 503 || e.status == 429 {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    resp
}
