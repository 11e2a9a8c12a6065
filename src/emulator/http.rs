//! The wire side of the emulator: `POST /`, TC3 verification, throttling, faults, envelopes.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::state::{ACTIONS, ActionError};
use super::{Emulator, Fault, lock};
use crate::tencent::client::{API_VERSION, SERVICE, TASK_STATUS_ACTIONS};
use crate::tencent::signer::{self, ReceivedRequest, SCOPE_TERMINATOR, UNSIGNED_PAYLOAD};

/// TC3 POST bodies may be up to 10 MB.
const MAX_BODY: usize = 10 * 1024 * 1024;

pub fn router(emulator: Emulator) -> Router {
    // One handler for every method and path: the real endpoint answers everything with an
    // envelope, never with a bare 404/405.
    // `GET /_emulator/snapshot` is the one emulator-only route (like LocalStack's
    // `/_localstack/...`): the zone's users, groups, memberships, assignments and tasks as JSON,
    // so a developer can see what the bridge provisioned. The real API has no such path.
    // `GET /_emulator/tasks` lists every task with the emulator-side facts an outside observer
    // (the soak) needs to tell who caused a Failed task, and `GET /_emulator/stats` the request
    // counters and the faults injected per kind.
    Router::new()
        .route("/_emulator/snapshot", axum::routing::get(snapshot))
        .route("/_emulator/tasks", axum::routing::get(tasks))
        .route("/_emulator/stats", axum::routing::get(stats))
        .route(
            "/_emulator/accounts/{uin}",
            axum::routing::put(put_account).delete(delete_account),
        )
        .fallback(handle)
        .with_state(emulator)
}

/// `PUT /_emulator/accounts/UIN` with `{"department": "Production/Payments", "tags": {"env":
/// "prod"}}` (both optional): what Tencent Cloud's console does to an account. An account
/// that is not a member joins the organization (in the root without `department`); a member
/// moves to `department` (each missing level created) and its tags are replaced by `tags`.
async fn put_account(
    State(emulator): State<Emulator>,
    axum::extract::Path(uin): axum::extract::Path<u64>,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Change {
        department: Option<String>,
        tags: Option<std::collections::BTreeMap<String, String>>,
    }
    let change: Change = match serde_json::from_slice(if body.is_empty() { b"{}" } else { &body }) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, axum::Json(json!({"Error": e.to_string()}))),
    };
    let member = emulator.snapshot().members.iter().any(|m| m.member_uin == uin);
    let mut r = if member {
        match &change.department {
            Some(d) => emulator.move_member_account(uin, d),
            None => Ok(()),
        }
    } else {
        emulator.add_member_account(uin, change.department.as_deref())
    };
    if let (Ok(()), Some(tags)) = (&r, &change.tags) {
        let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        r = emulator.set_member_tags(uin, &pairs);
    }
    match r {
        Ok(()) => {
            let snapshot = emulator.snapshot();
            let account = snapshot.members.iter().find(|m| m.member_uin == uin);
            (StatusCode::OK, axum::Json(json!(account)))
        }
        Err(e) => (StatusCode::BAD_REQUEST, axum::Json(json!({"Error": e.to_string()}))),
    }
}

/// `DELETE /_emulator/accounts/UIN`: the account leaves the organization.
async fn delete_account(
    State(emulator): State<Emulator>,
    axum::extract::Path(uin): axum::extract::Path<u64>,
) -> (StatusCode, axum::Json<Value>) {
    match emulator.remove_member_account(uin) {
        Ok(()) => (StatusCode::OK, axum::Json(json!({"MemberUin": uin}))),
        Err(e) => (StatusCode::BAD_REQUEST, axum::Json(json!({"Error": e.to_string()}))),
    }
}

async fn snapshot(State(emulator): State<Emulator>) -> axum::Json<super::Snapshot> {
    axum::Json(emulator.snapshot())
}

async fn tasks(State(emulator): State<Emulator>) -> axum::Json<Value> {
    axum::Json(json!({ "Tasks": emulator.tasks() }))
}

async fn stats(State(emulator): State<Emulator>) -> axum::Json<super::Stats> {
    axum::Json(emulator.stats())
}

enum Reply {
    Ok(Value),
    Error(ActionError),
    ServiceUnavailable,
    DropConnection,
}

async fn handle(
    State(emulator): State<Emulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let action = header(&headers, "x-tc-action").unwrap_or_default().to_owned();
    match process(&emulator, &method, &uri, &headers, body).await {
        Reply::Ok(value) => {
            tracing::debug!(%action, %request_id, "ok");
            envelope(value, &request_id)
        }
        Reply::Error(error) => {
            tracing::debug!(%action, %request_id, code = error.code, message = %error.message, "error");
            if !error.code.starts_with("AuthFailure") && ACTIONS.contains(&action.as_str()) {
                *lock(&emulator.inner.stats)
                    .errors
                    .entry(format!("{action}:{}", error.code))
                    .or_default() += 1;
            }
            envelope(
                json!({"Error": {"Code": error.code, "Message": error.message}}),
                &request_id,
            )
        }
        Reply::ServiceUnavailable => {
            tracing::debug!(%action, "fault: HTTP 503");
            let mut response = Response::new(Body::from("Service Unavailable"));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            response
        }
        Reply::DropConnection => {
            tracing::debug!(%action, "fault: connection dropped after the action was applied");
            // A body that fails makes hyper abort the connection mid-answer.
            let failing = futures_util::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "fault injection: connection dropped",
                ))
            });
            let mut response = Response::new(Body::from_stream(failing));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
    }
}

fn envelope(body: Value, request_id: &str) -> Response {
    let mut inner = match body {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    inner.insert("RequestId".to_owned(), Value::String(request_id.to_owned()));
    let bytes = serde_json::to_vec(&json!({ "Response": inner })).unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    // Exactly application/json: the Python SDK only parses the error envelope under this
    // (or text/plain) content type.
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn process(emulator: &Emulator, method: &Method, uri: &Uri, headers: &HeaderMap, body: Body) -> Reply {
    let inner = &emulator.inner;
    if method != Method::POST || uri.path() != "/" {
        return Reply::Error(ActionError::new(
            "UnsupportedProtocol",
            "Only POST / with a JSON body is supported",
        ));
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return Reply::Error(ActionError::new(
            "RequestSizeLimitExceeded",
            "The request body exceeds 10 MB",
        ));
    };
    let secret_id = match authenticate(emulator, method, uri, headers, &bytes) {
        Ok(id) => id,
        Err(error) => {
            if error.code.starts_with("AuthFailure") {
                lock(&inner.stats).auth_failures += 1;
            }
            return Reply::Error(error);
        }
    };
    match header(headers, "x-tc-version") {
        None => {
            return Reply::Error(ActionError::new(
                "MissingParameter",
                "The X-TC-Version header is required",
            ));
        }
        Some(API_VERSION) => {}
        Some(other) => {
            return Reply::Error(ActionError::new(
                "NoSuchVersion",
                format!("Version {other} does not exist for {SERVICE}"),
            ));
        }
    }
    let action = match header(headers, "x-tc-action") {
        None | Some("") => {
            return Reply::Error(ActionError::new(
                "MissingParameter",
                "The X-TC-Action header is required",
            ));
        }
        Some(action) if ACTIONS.contains(&action) => action,
        Some(other) => {
            return Reply::Error(ActionError::new(
                "InvalidAction",
                format!("The action {other} does not exist"),
            ));
        }
    };
    *lock(&inner.stats).calls.entry(action.to_owned()).or_default() += 1;

    let rate = if TASK_STATUS_ACTIONS.contains(&action) {
        inner.task_status_rate_limit
    } else {
        inner.rate_limit
    };
    if !lock(&inner.throttle).try_take(&secret_id, action, rate, inner.clock.now()) {
        *lock(&inner.stats).throttled.entry(action.to_owned()).or_default() += 1;
        return Reply::Error(ActionError::new(
            "RequestLimitExceeded",
            "Your request rate is over the limit; retry later",
        ));
    }

    let fault = emulator.next_fault(action);
    if let Some(fault) = &fault {
        let mut stats = lock(&inner.stats);
        stats.faults += 1;
        *stats.faults_by_kind.entry(fault.name().to_owned()).or_default() += 1;
    }
    match fault {
        Some(Fault::InternalError) => {
            return Reply::Error(ActionError::new(
                "InternalError",
                "An internal error occurred (fault injection)",
            ));
        }
        Some(Fault::ServiceUnavailable) => return Reply::ServiceUnavailable,
        Some(Fault::RequestLimitExceeded) => {
            return Reply::Error(ActionError::new(
                "RequestLimitExceeded",
                "Your request rate is over the limit; retry later (fault injection)",
            ));
        }
        _ => {}
    }

    let body: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(value) => value,
            Err(e) => {
                return Reply::Error(ActionError::new(
                    "InvalidParameter",
                    format!("The request body is not valid JSON: {e}"),
                ));
            }
        }
    };
    // The whole request at debug: the soak keeps this log to trace a lost update back to the
    // calls that made it.
    tracing::debug!(%action, %body, fault = fault.as_ref().map(Fault::name), "request");
    let outcome = {
        let mut state = lock(&inner.state);
        let first_new = state.next_seq_peek();
        let outcome = state.handle(action, body, inner.clock.now());
        if let Some(lost @ (Fault::DropConnection | Fault::Slow(_))) = &fault {
            state.mark_tasks_since(first_new, lost.name());
        }
        outcome
    };
    match fault {
        Some(Fault::DropConnection) => Reply::DropConnection,
        Some(Fault::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            reply(outcome)
        }
        _ => reply(outcome),
    }
}

fn reply(outcome: Result<Value, ActionError>) -> Reply {
    match outcome {
        Ok(value) => Reply::Ok(value),
        Err(error) => Reply::Error(error),
    }
}

/// TC3 verification as the reference's section 1.2 lays it out. The real server's precedence
/// between these checks is undocumented; this order reports the most specific problem.
fn authenticate(
    emulator: &Emulator,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, ActionError> {
    let inner = &emulator.inner;
    let invalid = |why: &str| {
        ActionError::new(
            "AuthFailure.InvalidAuthorization",
            format!("Authorization header is invalid: {why}"),
        )
    };
    let authorization = header(headers, "authorization").ok_or_else(|| invalid("missing"))?;
    let parsed = signer::parse_authorization(authorization).map_err(|e| invalid(e.0))?;
    if parsed.terminator != SCOPE_TERMINATOR || parsed.service != SERVICE {
        return Err(invalid("credential scope must be DATE/organization/tc3_request"));
    }
    if !parsed.signed_headers.iter().any(|h| h == "content-type") || !parsed.signed_headers.iter().any(|h| h == "host")
    {
        return Err(invalid("SignedHeaders must include content-type and host"));
    }
    let timestamp = header(headers, "x-tc-timestamp")
        .ok_or_else(|| ActionError::new("MissingParameter", "The X-TC-Timestamp header is required"))?;
    let timestamp: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| ActionError::new("InvalidParameterValue", "X-TC-Timestamp must be a Unix time in seconds"))?;
    let credential = inner
        .credentials
        .iter()
        .find(|c| c.secret_id == parsed.secret_id)
        .ok_or_else(|| {
            ActionError::new(
                "AuthFailure.SecretIdNotFound",
                "The SecretId does not exist or the key is disabled",
            )
        })?;
    let skew = (inner.clock.now().unix_timestamp() - timestamp).unsigned_abs();
    if skew > inner.max_skew.as_secs() {
        return Err(ActionError::new(
            "AuthFailure.SignatureExpire",
            format!("The signature expired: timestamp {timestamp} is {skew} s from server time"),
        ));
    }
    // With X-TC-Content-SHA256: UNSIGNED-PAYLOAD the client hashed that literal, not the body.
    let payload = if header(headers, "x-tc-content-sha256") == Some(UNSIGNED_PAYLOAD) {
        UNSIGNED_PAYLOAD.as_bytes()
    } else {
        body
    };
    let lookup = |name: &str| header(headers, name).map(str::to_owned);
    let received = ReceivedRequest {
        method: method.as_str(),
        canonical_uri: uri.path(),
        canonical_query: uri.query().unwrap_or(""),
        header: &lookup,
        payload,
        timestamp,
    };
    use secrecy::ExposeSecret;
    if !signer::verify(&parsed, credential.secret_key.expose_secret(), &received) {
        return Err(ActionError::new(
            "AuthFailure.SignatureFailure",
            "The signature does not match",
        ));
    }
    let token = header(headers, "x-tc-token").filter(|t| !t.is_empty());
    let token_ok = match (&credential.session_token, token) {
        (None, None) => true,
        (Some(expected), Some(sent)) => {
            use subtle::ConstantTimeEq;
            bool::from(expected.expose_secret().as_bytes().ct_eq(sent.as_bytes()))
        }
        _ => false,
    };
    if !token_ok {
        return Err(ActionError::new(
            "AuthFailure.TokenFailure",
            "The X-TC-Token is invalid",
        ));
    }
    Ok(parsed.secret_id)
}
