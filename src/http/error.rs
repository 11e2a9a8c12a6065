//! The one mapping from errors (SCIM, store, refused writes) to HTTP responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::provision::Refusal;
use crate::scim::ScimError;
use crate::scim::schema::{ERROR_SCHEMA, ResourceKind};
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
            StoreError::InvalidFilter(detail) => ScimError::invalid_filter(detail),
            StoreError::InvalidValue(detail) => ScimError::invalid_value(detail),
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

/// A refused write as the SCIM error the IdP reads. `id` is the resource the request named
/// (none for a create), for the 404's detail.
pub fn refusal_response(r: Refusal, kind: ResourceKind, id: Option<&str>) -> Response {
    let e = match r {
        Refusal::NotFound => match id {
            Some(id) => ScimError::not_found(format!("{} {id} not found", kind.name())),
            None => ScimError::not_found("resource not found"),
        },
        Refusal::PreconditionFailed => {
            ScimError::precondition_failed("the resource was modified: If-Match does not match its current version")
        }
        Refusal::Conflict { detail } => ScimError::uniqueness(detail),
        Refusal::Invalid { scim_type, detail } => ScimError::bad_request(scim_type, detail),
        Refusal::Patch(e) => e,
        Refusal::QuotaFull { retry_after, detail } => {
            let mut resp = scim_error_response(&ScimError::new(429, None, detail));
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
        Refusal::Store(e) => ApiError::from(e).0,
    };
    scim_error_response(&e)
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(resp: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_full_zone_answers_429_with_its_own_retry_after() {
        let resp = refusal_response(
            Refusal::QuotaFull {
                retry_after: 300,
                detail: "the zone is full".into(),
            },
            ResourceKind::User,
            None,
        );
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        // One Retry-After, the refusal's, not the generic 5 s of other 429s.
        let retry: Vec<_> = resp.headers().get_all(header::RETRY_AFTER).iter().collect();
        assert_eq!(retry, ["300"]);
        let b = body(resp).await;
        assert_eq!(b["status"], "429");
        assert_eq!(b["detail"], "the zone is full");
        assert!(b.get("scimType").is_none());
    }

    #[tokio::test]
    async fn a_missing_resource_is_named_when_the_request_named_it() {
        let named = refusal_response(Refusal::NotFound, ResourceKind::Group, Some("g1"));
        assert_eq!(named.status(), StatusCode::NOT_FOUND);
        assert_eq!(body(named).await["detail"], "Group g1 not found");
        let unnamed = refusal_response(Refusal::NotFound, ResourceKind::User, None);
        assert_eq!(body(unnamed).await["detail"], "resource not found");
        let conflict = refusal_response(
            Refusal::Conflict { detail: "taken".into() },
            ResourceKind::User,
            Some("u1"),
        );
        assert_eq!(conflict.status(), StatusCode::CONFLICT);
        assert_eq!(body(conflict).await["scimType"], "uniqueness");
    }
}
