//! JWT bearer tokens (Entra ID's OAuth mode): a tenant with `[tenants.jwt]` accepts tokens
//! signed by its issuer, checked for issuer, audience, signature, algorithm and expiry.
//!
//! The tenant is chosen by the token's `iss` (and `aud` when several tenants share an
//! issuer), read before the signature is checked; nothing from that unchecked read is trusted
//! beyond picking whose keys and rules to verify against.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::auth::Tenant;
use crate::config::{ConfigError, JwtConfig};

/// Longest wait for the issuer's JWKS document.
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);
/// Keys are refetched after this long even when every `kid` is known, so a key the issuer
/// withdrew stops being accepted.
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Largest JWKS document accepted.
const JWKS_MAX_BYTES: usize = 256 * 1024;

/// Why a JWT was refused. `Unavailable` (the keys could not be fetched) is not the client's
/// fault and is answered 503 so the IdP retries.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unavailable(String),
}

/// One tenant's JWT rules and keys.
pub struct JwtVerifier {
    tenant: Arc<Tenant>,
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    keys: KeySource,
}

enum KeySource {
    Static(Arc<DecodingKey>),
    /// Boxed: the cache is large beside a key, and there is one per tenant.
    Jwks(Box<JwksCache>),
}

/// The issuer's keys by `kid`, fetched on first use and again on an unknown `kid` (at most
/// once per `min_refresh`) or when older than [`JWKS_MAX_AGE`].
struct JwksCache {
    /// The tenant's name, for the metrics.
    tenant: String,
    url: String,
    client: reqwest::Client,
    min_refresh: Duration,
    /// Read without waiting: a refetch in progress does not hold up tokens whose key is known.
    keys: std::sync::RwLock<KeySet>,
    /// One fetch at a time; holds the time of the last attempt and whether it succeeded.
    fetching: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
}

#[derive(Deserialize)]
struct PeekClaims {
    iss: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, want: &str) -> bool {
        match self {
            Audience::One(a) => a == want,
            Audience::Many(v) => v.iter().any(|a| a == want),
        }
    }
}

impl JwtVerifier {
    /// Builds the verifier of tenant number `index`; a key that cannot be read or parsed is a
    /// configuration error naming the key.
    pub fn new(index: usize, tenant: Arc<Tenant>, config: &JwtConfig) -> Result<JwtVerifier, ConfigError> {
        let err = |k: &str, reason: String| ConfigError {
            key: format!("tenants[{index}].jwt.{k}"),
            reason,
        };
        let mut algorithms = Vec::new();
        for a in &config.algorithms {
            let alg: Algorithm = a
                .parse()
                .map_err(|_| err("algorithms", format!("{a:?} is not a known algorithm")))?;
            algorithms.push(alg);
        }
        let keys = match (&config.key, &config.jwks_url) {
            (Some(k), _) => KeySource::Static(Arc::new(
                static_key(k, &algorithms).map_err(|reason| err("key", reason))?,
            )),
            (None, Some(url)) => {
                crate::prometheus::jwks_tenant(&tenant.name);
                KeySource::Jwks(Box::new(JwksCache {
                    tenant: tenant.name.clone(),
                    url: url.clone(),
                    client: reqwest::Client::builder()
                        .timeout(JWKS_TIMEOUT)
                        .connect_timeout(JWKS_TIMEOUT)
                        .build()
                        .map_err(|e| err("jwks_url", format!("cannot build an HTTP client: {e}")))?,
                    min_refresh: Duration::from_secs(config.jwks_min_refresh_secs),
                    keys: Default::default(),
                    fetching: Default::default(),
                }))
            }
            (None, None) => return Err(err("jwks_url", "give jwks_url or key".to_string())),
        };
        Ok(JwtVerifier {
            tenant,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            algorithms,
            leeway: config.leeway_secs,
            keys,
        })
    }

    pub fn tenant(&self) -> &Arc<Tenant> {
        &self.tenant
    }

    /// Verifies `token` for this tenant.
    /// Verifies the token; returns its subject (`sub`), if it has one.
    pub async fn verify(&self, token: &str) -> Result<Option<String>, JwtError> {
        // `decode_header` refuses `alg: none` (not an algorithm jsonwebtoken knows), so an
        // unsigned token never gets further.
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| JwtError::Invalid(format!("not a valid JWT: {e}")))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(JwtError::Invalid(format!(
                "algorithm {:?} is not accepted for this issuer",
                header.alg
            )));
        }
        let key = match &self.keys {
            KeySource::Static(k) => k.clone(),
            KeySource::Jwks(cache) => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| JwtError::Invalid("the token names no signing key (kid)".into()))?;
                cache.key(kid).await?
            }
        };
        let mut v = Validation::new(header.alg);
        v.algorithms = self.algorithms.clone();
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.validate_nbf = true;
        v.leeway = self.leeway;
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
            .map(|t| t.claims.get("sub").and_then(|s| s.as_str()).map(str::to_owned))
            .map_err(|e| JwtError::Invalid(format!("token refused: {e}")))
    }
}

/// A configured key: inline PEM or the path of a PEM file, of the family of the algorithms.
fn static_key(value: &str, algorithms: &[Algorithm]) -> Result<DecodingKey, String> {
    let pem = if value.trim_start().starts_with("-----BEGIN") {
        value.as_bytes().to_vec()
    } else {
        std::fs::read(value).map_err(|e| format!("cannot read {value}: {e}"))?
    };
    let first = algorithms.first().copied().unwrap_or(Algorithm::RS256);
    let key = match first {
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
        _ => DecodingKey::from_rsa_pem(&pem),
    };
    key.map_err(|e| format!("not a public key in PEM form for {first:?}: {e}"))
}

impl JwksCache {
    /// The known key `kid` unless the set is stale.
    fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let set = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let fresh = set.fetched_at.is_some_and(|t| t.elapsed() < JWKS_MAX_AGE);
        if fresh { set.keys.get(kid).cloned() } else { None }
    }

    fn any(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys
            .get(kid)
            .cloned()
    }

    async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, JwtError> {
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        // One fetch at a time: concurrent requests with a new kid wait for the same fetch
        // instead of each asking the issuer.
        let mut last_attempt = self.fetching.lock().await;
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        let may_fetch = last_attempt.is_none_or(|(t, _)| t.elapsed() >= self.min_refresh);
        if may_fetch {
            let fetched = self.fetch().await;
            crate::prometheus::jwks_fetch(&self.tenant, fetched.is_ok());
            *last_attempt = Some((Instant::now(), fetched.is_ok()));
            match fetched {
                Ok(keys) => {
                    tracing::info!(url = %self.url, keys = keys.len(), "fetched the issuer's signing keys");
                    *self.keys.write().unwrap_or_else(|p| p.into_inner()) = KeySet {
                        keys,
                        fetched_at: Some(Instant::now()),
                    };
                }
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, "fetching the issuer's signing keys failed");
                    // Keys already known keep working while the issuer is unreachable.
                    if let Some(k) = self.any(kid) {
                        return Ok(k);
                    }
                    return Err(JwtError::Unavailable(
                        "cannot fetch the issuer's signing keys; retry later".into(),
                    ));
                }
            }
        }
        match (self.any(kid), *last_attempt) {
            (Some(k), _) => Ok(k),
            // Until the next attempt, an unknown kid is the issuer's outage, not the token's
            // fault.
            (None, Some((_, false))) => Err(JwtError::Unavailable(
                "cannot fetch the issuer's signing keys; retry later".into(),
            )),
            (None, _) => Err(JwtError::Invalid(format!("unknown signing key {kid:?}"))),
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, String> {
        let resp = self.client.get(&self.url).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        if bytes.len() > JWKS_MAX_BYTES {
            return Err(format!("JWKS larger than {JWKS_MAX_BYTES} bytes"));
        }
        #[derive(Deserialize)]
        struct Set {
            keys: Vec<serde_json::Value>,
        }
        let set: Set = serde_json::from_slice(&bytes).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut out = HashMap::new();
        // Keys of types jsonwebtoken does not know (or without kid) are skipped, not fatal:
        // issuers publish keys for other uses in the same document.
        for v in set.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(v) else {
                continue;
            };
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            if let Ok(k) = DecodingKey::from_jwk(&jwk) {
                out.insert(kid, Arc::new(k));
            }
        }
        Ok(out)
    }
}

/// The verifiers of every tenant with `[tenants.jwt]`.
#[derive(Default)]
pub struct JwtTenants {
    verifiers: Vec<JwtVerifier>,
}

impl JwtTenants {
    pub fn push(&mut self, v: JwtVerifier) {
        self.verifiers.push(v);
    }

    pub fn is_empty(&self) -> bool {
        self.verifiers.is_empty()
    }

    /// The verifier for a token of issuer `iss` and audience `aud` (not yet verified).
    fn choose(&self, iss: &str, aud: Option<&Audience>) -> Result<&JwtVerifier, JwtError> {
        let candidates: Vec<&JwtVerifier> = self.verifiers.iter().filter(|v| v.issuer == iss).collect();
        match candidates.as_slice() {
            [] => Err(JwtError::Invalid(format!("issuer {iss:?} is not configured"))),
            [only] => Ok(*only),
            many => many
                .iter()
                .find(|v| aud.is_some_and(|a| a.contains(&v.audience)))
                .copied()
                .ok_or_else(|| JwtError::Invalid("the token's audience is not configured for its issuer".into())),
        }
    }

    /// The tenant `token` belongs to, once verified.
    /// The tenant whose issuer signed the token, and who it names: `jwt <issuer> <subject>`.
    pub async fn authenticate(&self, token: &str) -> Result<(Arc<Tenant>, String), JwtError> {
        let peek: PeekClaims = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|e| JwtError::Invalid(format!("not a valid JWT: {e}")))?;
        let iss = peek
            .iss
            .ok_or_else(|| JwtError::Invalid("the token has no issuer (iss)".into()))?;
        let chosen = self.choose(&iss, peek.aud.as_ref())?;
        let subject = chosen.verify(token).await?;
        let actor = format!("jwt {iss} {}", subject.as_deref().unwrap_or("(no sub)"));
        Ok((chosen.tenant.clone(), actor))
    }
}

/// Whether `token` has the shape of a JWT (three base64url parts), so that a static token
/// is never sent down the JWT path and vice versa.
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}
