//! Bearer-token authentication. Tokens are kept only as SHA-256 digests and compared in
//! constant time against every tenant, so neither timing nor early exit reveals which tenant
//! (if any) a guess came close to. Tenants with `[tenants.jwt]` also accept JWTs
//! (`jwt.rs`); a token shaped like a JWT that no static token matches goes that way.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::scim::ScimError;

/// A tenant as the HTTP layer sees it.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub name: String,
    pub zone_id: String,
}

struct Entry {
    digest: [u8; 32],
    tenant: Arc<Tenant>,
}

/// The tenants' token digests and JWT verifiers.
pub struct TokenTable {
    entries: Vec<Entry>,
    jwt: super::jwt::JwtTenants,
}

pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenTable {
    pub fn new() -> Self {
        TokenTable {
            entries: Vec::new(),
            jwt: Default::default(),
        }
    }

    pub fn add_jwt(&mut self, verifier: super::jwt::JwtVerifier) {
        self.jwt.push(verifier);
    }

    pub fn add(&mut self, tenant: Tenant, token: &str) {
        self.entries.push(Entry {
            digest: digest(token),
            tenant: Arc::new(tenant),
        });
    }

    /// The tenant whose token this is. Every entry is compared, whatever matches.
    pub fn lookup(&self, token: &str) -> Option<Arc<Tenant>> {
        self.lookup_digest(&digest(token))
    }

    /// [`lookup`](Self::lookup) by the token's digest (computed once per request: the audit
    /// trail names the token by it too).
    fn lookup_digest(&self, d: &[u8; 32]) -> Option<Arc<Tenant>> {
        let mut found = None;
        for e in &self.entries {
            if bool::from(e.digest.ct_eq(d)) {
                found = Some(e.tenant.clone());
            }
        }
        found
    }
}

/// How the audit trail names a static token: by the first 8 bytes of its SHA-256 digest,
/// which tells a tenant's tokens apart (a rotation) and reveals nothing of the token.
fn token_actor(digest: &[u8; 32]) -> String {
    format!("token sha256:{}", hex::encode(&digest[..8]))
}

/// The request's id for the audit trail: the `X-Request-Id` header (ours, or the client's when
/// it sent one), kept only when it is short printable ASCII.
pub(super) fn request_id(req: &Request) -> Option<String> {
    let id = req.headers().get("x-request-id")?.to_str().ok()?;
    (!id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())).then(|| id.to_owned())
}

impl Default for TokenTable {
    fn default() -> Self {
        Self::new()
    }
}

/// Middleware: resolves the bearer token to a tenant and stores it as a request extension.
pub async fn require_tenant(State(tokens): State<Arc<TokenTable>>, mut req: Request, next: Next) -> Response {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let token = header.and_then(|h| {
        let (scheme, rest) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim().to_owned())
    });
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return ApiError(ScimError::unauthorized(
            "missing bearer token: send Authorization: Bearer <token>",
        ))
        .into_response();
    };
    let token_digest = digest(&token);
    let (tenant, actor) = match tokens.lookup_digest(&token_digest) {
        Some(tenant) => (tenant, token_actor(&token_digest)),
        None if !tokens.jwt.is_empty() && super::jwt::looks_like_jwt(&token) => {
            match tokens.jwt.authenticate(&token).await {
                Ok(found) => found,
                Err(super::jwt::JwtError::Invalid(why)) => {
                    tracing::info!(reason = %why, "JWT refused");
                    return invalid_token(&format!("invalid bearer token: {why}"));
                }
                Err(super::jwt::JwtError::Unavailable(why)) => {
                    return ApiError(ScimError::unavailable(why)).into_response();
                }
            }
        }
        None => return invalid_token("invalid bearer token"),
    };
    tracing::Span::current().record("tenant", tenant.name.as_str());
    let origin = crate::store::Origin::new(actor, request_id(&req));
    req.extensions_mut().insert(tenant);
    req.extensions_mut().insert(origin);
    next.run(req).await
}

/// 401 for a token that was presented and refused: RFC 6750 §3.1 `invalid_token`, which
/// tells an OAuth client to get a new token rather than retry this one.
fn invalid_token(detail: &str) -> Response {
    let mut resp = ApiError(ScimError::unauthorized(detail)).into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer realm=\"cic-bridge\", error=\"invalid_token\""),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_only_the_exact_token() {
        let mut t = TokenTable::new();
        t.add(
            Tenant {
                name: "a".into(),
                zone_id: "z-aaaaaaaaaaaa".into(),
            },
            "token-a",
        );
        t.add(
            Tenant {
                name: "b".into(),
                zone_id: "z-bbbbbbbbbbbb".into(),
            },
            "token-b",
        );
        assert_eq!(t.lookup("token-b").map(|t| t.name.clone()), Some("b".to_string()));
        assert!(t.lookup("token-").is_none());
        assert!(t.lookup("TOKEN-A").is_none());
    }
}
