//! HTTP client of the Identity Center API: signs, rate-limits, sends, and turns the `Response`
//! envelope into a typed answer or a classified [`CicError`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tracing::{Instrument, info, info_span, warn};

use super::clock::{SharedClock, system_clock};
use super::error::{ApiError, CicError};
use super::model::{Action, DescribeOrganizationMembers, DescribeOrganizationNodes, OrgMember, OrgNode, Paginated};
use super::signer::{self, SigningInput};

/// China site.
pub const CHINA_ENDPOINT: &str = "https://organization.tencentcloudapi.com";
/// International site.
pub const INTERNATIONAL_ENDPOINT: &str = "https://organization.intl.tencentcloudapi.com";
/// Service name in the TC3 credential scope.
pub const SERVICE: &str = "organization";
pub const API_VERSION: &str = "2021-03-31";

pub const ENV_SECRET_ID: &str = "TENCENTCLOUD_SECRET_ID";
pub const ENV_SECRET_KEY: &str = "TENCENTCLOUD_SECRET_KEY";
pub const ENV_SESSION_TOKEN: &str = "TENCENTCLOUD_SESSION_TOKEN";

/// The documented limit of every CIC action page checked.
pub const DEFAULT_RATE_LIMIT: u32 = 20;
/// `GetTaskStatus` and `GetProvisioningTaskStatus` are documented at 220 requests/s.
pub const TASK_STATUS_RATE_LIMIT: u32 = 220;
pub const TASK_STATUS_ACTIONS: [&str; 2] = ["GetTaskStatus", "GetProvisioningTaskStatus"];

/// Requests per second per action. Zero disables the limiter for that action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub default_per_second: u32,
    pub per_action: BTreeMap<String, u32>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            default_per_second: DEFAULT_RATE_LIMIT,
            per_action: TASK_STATUS_ACTIONS
                .iter()
                .map(|a| ((*a).to_owned(), TASK_STATUS_RATE_LIMIT))
                .collect(),
        }
    }
}

impl RateLimits {
    /// No client-side limiting at all (tests that want to see the server throttle).
    pub fn unlimited() -> Self {
        Self {
            default_per_second: 0,
            per_action: BTreeMap::new(),
        }
    }

    pub fn for_action(&self, action: &str) -> u32 {
        self.per_action.get(action).copied().unwrap_or(self.default_per_second)
    }
}

/// Everything about the client except the secrets.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// [`CHINA_ENDPOINT`], [`INTERNATIONAL_ENDPOINT`], or any base URL (the emulator).
    pub endpoint: String,
    /// Sent as `X-TC-Region` when set. The CIC pages say this API needs no region.
    pub region: Option<String>,
    pub connect_timeout: Duration,
    /// Whole request, including reading the answer.
    pub request_timeout: Duration,
    pub rate_limits: RateLimits,
    /// `X-TC-Language` (`zh-CN` | `en-US`): the language of error messages.
    pub language: Option<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            endpoint: CHINA_ENDPOINT.to_owned(),
            region: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            rate_limits: RateLimits::default(),
            language: Some("en-US".to_owned()),
        }
    }
}

/// API key pair, plus the session token of temporary (STS) credentials.
#[derive(Clone)]
pub struct Credentials {
    pub secret_id: String,
    pub secret_key: SecretString,
    pub session_token: Option<SecretString>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"[REDACTED]")
            .field("session_token", &self.session_token.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl Credentials {
    pub fn new(secret_id: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
            secret_key: SecretString::from(secret_key.into()),
            session_token: None,
        }
    }

    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(SecretString::from(token.into()));
        self
    }

    /// From `TENCENTCLOUD_SECRET_ID`, `TENCENTCLOUD_SECRET_KEY` and optionally
    /// `TENCENTCLOUD_SESSION_TOKEN`.
    pub fn from_env() -> Result<Self, CicError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CicError> {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let id = non_empty(ENV_SECRET_ID).ok_or_else(|| CicError::Config(format!("{ENV_SECRET_ID} is not set")))?;
        let key = non_empty(ENV_SECRET_KEY).ok_or_else(|| CicError::Config(format!("{ENV_SECRET_KEY} is not set")))?;
        let mut credentials = Self::new(id.trim(), key.trim());
        if let Some(token) = non_empty(ENV_SESSION_TOKEN) {
            credentials = credentials.with_session_token(token.trim());
        }
        Ok(credentials)
    }
}

/// One token bucket per action, created on first use. Governor's keyed limiter shares one
/// quota across keys, and the task-status actions need a different one.
#[derive(Debug)]
struct ActionLimiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<&'static str, Option<Arc<DefaultDirectRateLimiter>>>>,
}

impl ActionLimiter {
    fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn bucket(&self, action: &'static str) -> Option<Arc<DefaultDirectRateLimiter>> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        buckets
            .entry(action)
            .or_insert_with(|| {
                let rate = NonZeroU32::new(self.limits.for_action(action))?;
                // Half the rate as burst: the server's own bucket then keeps spare tokens in
                // steady state, so network jitter bunching two requests together does not
                // turn into RequestLimitExceeded.
                let burst = NonZeroU32::new(rate.get().div_ceil(2)).unwrap_or(NonZeroU32::MIN);
                Some(Arc::new(RateLimiter::direct(
                    Quota::per_second(rate).allow_burst(burst),
                )))
            })
            .clone()
    }

    /// Waits for a token; true when the call had to wait (the bucket was empty).
    async fn acquire(&self, action: &'static str) -> bool {
        let Some(bucket) = self.bucket(action) else {
            return false;
        };
        if bucket.check().is_ok() {
            return false;
        }
        bucket.until_ready().await;
        true
    }
}

/// The last failed call, for the status page.
#[derive(Debug, Clone)]
pub struct LastError {
    pub at: time::OffsetDateTime,
    pub action: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
}

/// What this client has seen of Identity Center since start-up: reachability and throttling,
/// for `/admin/status` (Prometheus gets the same events as counters).
#[derive(Debug, Default)]
pub struct CallStats {
    pub calls: AtomicU64,
    pub errors: AtomicU64,
    /// Answers `RequestLimitExceeded` (the server's throttle).
    pub throttled: AtomicU64,
    /// Calls that waited for the client's own limiter.
    pub limiter_waits: AtomicU64,
    last_ok: Mutex<Option<time::OffsetDateTime>>,
    last_error: Mutex<Option<LastError>>,
}

impl CallStats {
    pub fn last_ok(&self) -> Option<time::OffsetDateTime> {
        *self.last_ok.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn last_error(&self) -> Option<LastError> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, action: &'static str, at: time::OffsetDateTime, outcome: &Result<(), &CicError>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(()) => *self.last_ok.lock().unwrap_or_else(|p| p.into_inner()) = Some(at),
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if e.code() == Some("RequestLimitExceeded") {
                    self.throttled.fetch_add(1, Ordering::Relaxed);
                }
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(LastError {
                    at,
                    action,
                    code: e.code().map(str::to_owned),
                    message: e.api().map(|a| a.message.clone()).unwrap_or_else(|| e.to_string()),
                    request_id: e.request_id().map(str::to_owned),
                });
            }
        }
    }
}

/// The `outcome` label of a call: `ok`, or the error's retry class.
fn outcome_label(r: &Result<(), &CicError>) -> &'static str {
    use super::error::ErrorClass;
    match r {
        Ok(()) => "ok",
        Err(e) => match e.class() {
            ErrorClass::Retryable => "retryable",
            ErrorClass::Conflict => "conflict",
            ErrorClass::Quota => "quota",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Dependency => "dependency",
            ErrorClass::Auth => "auth",
            ErrorClass::Invalid => "invalid",
            ErrorClass::Definitive => "definitive",
        },
    }
}

/// The `error` label of a call that got no API answer (Identity Center unreachable), which
/// `outcome` counts as `retryable` together with the server's own retryable codes.
fn network_error_label(e: &CicError) -> Option<&'static str> {
    match e {
        CicError::Timeout { .. } => Some("timeout"),
        CicError::Transport { .. } => Some("transport"),
        CicError::HttpStatus { .. } => Some("http_status"),
        CicError::Api { .. } | CicError::Decode { .. } | CicError::Pagination { .. } | CicError::Config(_) => None,
    }
}

/// The Identity Center client. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct CicClient {
    http: reqwest::Client,
    url: Url,
    host: String,
    region: Option<String>,
    language: Option<String>,
    credentials: Credentials,
    limiter: ActionLimiter,
    clock: SharedClock,
    stats: CallStats,
}

impl CicClient {
    pub fn new(config: ClientConfig, credentials: Credentials) -> Result<Self, CicError> {
        let url = Url::parse(&config.endpoint)
            .map_err(|e| CicError::Config(format!("endpoint {:?} is not a URL: {e}", config.endpoint)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(CicError::Config(format!(
                "endpoint {:?} must be http or https",
                config.endpoint
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| CicError::Config(format!("endpoint {:?} has no host", config.endpoint)))?;
        // The signed Host must be what goes on the wire: host plus any non-default port.
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| CicError::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            http,
            url,
            host,
            region: config.region,
            language: config.language,
            credentials,
            limiter: ActionLimiter::new(config.rate_limits),
            clock: system_clock(),
            stats: CallStats::default(),
        })
    }

    /// Replaces the clock used for `X-TC-Timestamp`.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn endpoint(&self) -> &Url {
        &self.url
    }

    /// Reachability and throttling seen since start-up.
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// Sends one action and returns its typed answer.
    ///
    /// `AuthFailure.SignatureExpire` is re-signed once with a fresh timestamp, as the
    /// reference advises; everything else is returned to the caller, who decides on retries by
    /// [`CicError::class`]. Nothing here retries creates: the API has no idempotency tokens.
    pub async fn call<A: Action>(&self, request: &A) -> Result<A::Response, CicError> {
        let body = serde_json::to_vec(request)
            .map_err(|e| CicError::Config(format!("cannot serialize {} request: {e}", A::NAME)))?;
        let span = info_span!("cic", action = A::NAME, request_id = tracing::field::Empty);
        async {
            let mut attempt = self.send::<A>(&body).await;
            if matches!(&attempt, Err(e) if e.code() == Some("AuthFailure.SignatureExpire")) {
                attempt = self.send::<A>(&body).await;
            }
            attempt
        }
        .instrument(span)
        .await
    }

    /// One attempt, counted in the metrics and the call statistics.
    async fn send<A: Action>(&self, body: &[u8]) -> Result<A::Response, CicError> {
        let action = A::NAME;
        if self.limiter.acquire(action).await {
            self.stats.limiter_waits.fetch_add(1, Ordering::Relaxed);
            crate::prometheus::cic_limiter_wait(action);
        }
        let started = std::time::Instant::now();
        let record = super::record::wanted(action);
        let mut answer_bytes = None;
        let result = self.send_once::<A>(body, record.then_some(&mut answer_bytes)).await;
        if record {
            let outcome = match &result {
                Ok(_) => Ok(answer_bytes.as_ref().map(|(_, id): &(Vec<u8>, String)| id.as_str())),
                Err(e) => Err(e),
            };
            super::record::push(action, body, answer_bytes.as_ref().map(|(b, _)| &b[..]), outcome);
        }
        let outcome = result.as_ref().map(|_| ());
        crate::prometheus::cic_call(action, outcome_label(&outcome), started.elapsed());
        if let Some(error) = outcome.err().and_then(network_error_label) {
            crate::prometheus::cic_network_error(action, error);
        }
        if matches!(&outcome, Err(e) if e.code() == Some("RequestLimitExceeded")) {
            crate::prometheus::cic_throttled(action);
        }
        self.stats.record(action, self.clock.now(), &outcome);
        result
    }

    /// One request. With `keep`, a successful answer's bytes and RequestId are kept there (for
    /// the audit trail's record of the call).
    async fn send_once<A: Action>(
        &self,
        body: &[u8],
        keep: Option<&mut Option<(Vec<u8>, String)>>,
    ) -> Result<A::Response, CicError> {
        let action = A::NAME;
        let headers = self.signed_headers(action, body)?;
        let response = self
            .http
            .post(self.url.clone())
            .headers(headers)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    CicError::Timeout { action }
                } else {
                    CicError::Transport { action, source: e }
                }
            })?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(CicError::HttpStatus {
                action,
                status: status.as_u16(),
            });
        }
        let bytes = response.bytes().await.map_err(|e| {
            if e.is_timeout() {
                CicError::Timeout { action }
            } else {
                CicError::Transport { action, source: e }
            }
        })?;
        match decode_envelope::<A::Response>(action, &bytes) {
            Ok((answer, request_id)) => {
                tracing::Span::current().record("request_id", request_id.as_str());
                // One line per call, with its RequestId as an event field (JSON logs put span
                // fields elsewhere): the handle Tencent support asks for.
                info!(action, request_id = %request_id, "Identity Center call ok");
                if let Some(keep) = keep {
                    *keep = Some((bytes.to_vec(), request_id));
                }
                Ok(answer)
            }
            Err(CicError::Api { action, error }) => {
                tracing::Span::current().record("request_id", error.request_id.as_str());
                warn!(action, request_id = %error.request_id, code = %error.code, message = %error.message, "Identity Center call failed");
                Err(CicError::Api { action, error })
            }
            Err(e) => {
                warn!(action, error = %e, "Identity Center answer undecodable");
                Err(e)
            }
        }
    }

    fn signed_headers(&self, action: &'static str, body: &[u8]) -> Result<HeaderMap, CicError> {
        let timestamp = self.clock.now().unix_timestamp();
        let content_type = "application/json";
        // The SDKs sign exactly content-type and host; the other X-TC-* headers ride unsigned.
        let signature = signer::sign(
            &SigningInput {
                method: "POST",
                canonical_uri: "/",
                canonical_query: "",
                headers: &[("content-type", content_type), ("host", &self.host)],
                payload: body,
                service: SERVICE,
                timestamp,
            },
            self.credentials.secret_key.expose_secret(),
        )
        .map_err(|e| CicError::Config(e.to_string()))?;
        let authorization = signer::authorization(
            &self.credentials.secret_id,
            &signature.credential_scope,
            &signature.signed_headers,
            &signature.signature,
        );
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| -> Result<(), CicError> {
            let value = HeaderValue::from_str(value)
                .map_err(|_| CicError::Config(format!("value of header {name} is not valid")))?;
            headers.insert(name, value);
            Ok(())
        };
        put(HOST.as_str(), &self.host)?;
        put(CONTENT_TYPE.as_str(), content_type)?;
        put(AUTHORIZATION.as_str(), &authorization)?;
        put("x-tc-action", action)?;
        put("x-tc-version", API_VERSION)?;
        put("x-tc-timestamp", &timestamp.to_string())?;
        if let Some(region) = &self.region {
            put("x-tc-region", region)?;
        }
        if let Some(language) = &self.language {
            put("x-tc-language", language)?;
        }
        if let Some(token) = &self.credentials.session_token {
            let mut value = HeaderValue::from_str(token.expose_secret())
                .map_err(|_| CicError::Config("session token is not a valid header value".to_owned()))?;
            value.set_sensitive(true);
            headers.insert("x-tc-token", value);
        }
        Ok(headers)
    }

    /// Follows `NextToken` to the last page and returns every item. Other request fields stay
    /// unchanged between pages, as the API requires.
    pub async fn list_all<A: Paginated>(&self, request: &A) -> Result<Vec<A::Item>, CicError> {
        let mut request = request.clone();
        request.set_next_token(None);
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        loop {
            let page = A::into_page(self.call(&request).await?);
            items.extend(page.items);
            let Some(token) = page.next_token else { return Ok(items) };
            // A server that hands back a token twice would loop forever.
            if !seen.insert(token.clone()) {
                return Err(CicError::Pagination {
                    action: A::NAME,
                    detail: "NextToken repeated".to_owned(),
                });
            }
            request.set_next_token(Some(token));
        }
    }

    /// Every member account of the organization (DescribeOrganizationMembers, Offset/Limit).
    pub async fn organization_members(&self) -> Result<Vec<OrgMember>, CicError> {
        let mut members = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .call(&DescribeOrganizationMembers {
                    offset,
                    limit: ORGANIZATION_PAGE,
                    ..Default::default()
                })
                .await?;
            let count = page.items.len() as u64;
            members.extend(page.items);
            offset += ORGANIZATION_PAGE;
            if count < ORGANIZATION_PAGE || offset >= page.total {
                return Ok(members);
            }
        }
    }

    /// Every department of the organization, the root included (DescribeOrganizationNodes,
    /// Offset/Limit).
    pub async fn organization_nodes(&self) -> Result<Vec<OrgNode>, CicError> {
        let mut nodes = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .call(&DescribeOrganizationNodes {
                    offset,
                    limit: ORGANIZATION_PAGE,
                    tags: None,
                })
                .await?;
            let count = page.items.len() as u64;
            nodes.extend(page.items);
            offset += ORGANIZATION_PAGE;
            if count < ORGANIZATION_PAGE || offset >= page.total {
                return Ok(nodes);
            }
        }
    }
}

/// The Organization actions' largest page (`Limit` 1-50; `Offset` must be a multiple of it).
const ORGANIZATION_PAGE: u64 = 50;

/// Splits the `{"Response": {...}}` envelope into the typed answer and its RequestId, or the
/// API error.
pub fn decode_envelope<T: serde::de::DeserializeOwned>(
    action: &'static str,
    bytes: &[u8],
) -> Result<(T, String), CicError> {
    let decode = |detail: String| CicError::Decode { action, detail };
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| decode(format!("not JSON: {e}")))?;
    let response = value
        .get_mut("Response")
        .map(Value::take)
        .filter(Value::is_object)
        .ok_or_else(|| decode("no Response object".to_owned()))?;
    if let Some(error) = response.get("Error") {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        let code = text(error.get("Code"));
        if code.is_empty() {
            return Err(decode("Response.Error has no Code".to_owned()));
        }
        return Err(CicError::Api {
            action,
            error: ApiError {
                code,
                message: text(error.get("Message")),
                request_id: text(response.get("RequestId")),
            },
        });
    }
    let request_id = response
        .get("RequestId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let answer = serde_json::from_value(response).map_err(|e| decode(format!("unexpected fields: {e}")))?;
    Ok((answer, request_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tencent::model::{EmptyResponse, UserInfoResponse};

    #[test]
    fn decodes_success_and_error_envelopes() {
        let (ok, request_id): (UserInfoResponse, String) = decode_envelope(
            "GetUser",
            br#"{"Response":{"UserInfo":{"UserId":"u-1","UserName":"a"},"RequestId":"r-1"}}"#,
        )
        .unwrap();
        assert_eq!(ok.user_info.user_id, "u-1");
        assert_eq!(ok.request_id, "r-1");
        assert_eq!(request_id, "r-1");
        let err = decode_envelope::<EmptyResponse>(
            "DeleteUser",
            br#"{"Response":{"Error":{"Code":"ResourceNotFound.UserNotExist","Message":"no"},"RequestId":"r-2"}}"#,
        )
        .unwrap_err();
        let api = err.api().unwrap();
        assert_eq!(
            (api.code.as_str(), api.message.as_str(), api.request_id.as_str()),
            ("ResourceNotFound.UserNotExist", "no", "r-2")
        );
        for bad in [&b"<html>"[..], br#"{"Result":{}}"#, br#"{"Response":{"Error":{}}}"#] {
            let err = decode_envelope::<EmptyResponse>("DeleteUser", bad).unwrap_err();
            assert!(matches!(err, CicError::Decode { .. }), "{err}");
            assert!(err.class().is_retryable());
        }
    }

    #[test]
    fn credentials_from_environment_lookup() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        let creds = Credentials::from_lookup(env(&[
            (ENV_SECRET_ID, "AKID"),
            (ENV_SECRET_KEY, "key"),
            (ENV_SESSION_TOKEN, "tok"),
        ]))
        .unwrap();
        assert_eq!(creds.secret_id, "AKID");
        assert_eq!(
            creds
                .session_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned())
                .as_deref(),
            Some("tok")
        );
        assert!(!format!("{creds:?}").contains("key\""), "secret redacted in Debug");
        assert!(Credentials::from_lookup(env(&[(ENV_SECRET_ID, "AKID")])).is_err());
        assert!(Credentials::from_lookup(env(&[(ENV_SECRET_ID, "AKID"), (ENV_SECRET_KEY, " ")])).is_err());
    }

    #[test]
    fn rate_limits_default_to_documented_values() {
        let limits = RateLimits::default();
        assert_eq!(limits.for_action("CreateUser"), 20);
        assert_eq!(limits.for_action("ListTasks"), 20);
        assert_eq!(limits.for_action("GetTaskStatus"), 220);
        assert_eq!(limits.for_action("GetProvisioningTaskStatus"), 220);
    }

    #[test]
    fn host_keeps_explicit_port() {
        let config = ClientConfig {
            endpoint: "http://127.0.0.1:8443/".into(),
            ..Default::default()
        };
        let client = CicClient::new(config, Credentials::new("id", "key")).unwrap();
        assert_eq!(client.host, "127.0.0.1:8443");
        let client = CicClient::new(ClientConfig::default(), Credentials::new("id", "key")).unwrap();
        assert_eq!(client.host, "organization.tencentcloudapi.com");
        let bad = ClientConfig {
            endpoint: "ftp://x".into(),
            ..Default::default()
        };
        assert!(CicClient::new(bad, Credentials::new("id", "key")).is_err());
    }
}
