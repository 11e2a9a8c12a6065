//! JWT bearer tokens (Entra ID's OAuth mode): tokens signed here with the test keys in
//! `tests/fixtures/jwt`, the JWKS served by a small axum server on loopback.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, spawn_with};
use cic_bridge::config::JwtConfig;

const ISSUER: &str = "https://sts.windows.net/11111111-2222-3333-4444-555555555555/";
const AUDIENCE: &str = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621";

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn jwk(key: &str, kid: &str) -> Value {
    let mut v: Value = serde_json::from_str(&fixture(&format!("{key}.jwk.json"))).unwrap();
    v["kid"] = json!(kid);
    v
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A token signed with `key` (key1 or key2) under `kid`.
fn sign(key: &str, kid: Option<&str>, claims: Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    let k = EncodingKey::from_rsa_pem(fixture(&format!("{key}.pem")).as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &k).unwrap()
}

fn claims(iss: &str, aud: &str, exp_in: i64) -> Value {
    json!({"iss": iss, "aud": aud, "exp": now() + exp_in, "iat": now() - 10, "nbf": now() - 10,
           "sub": "provisioning", "tid": "11111111-2222-3333-4444-555555555555"})
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// The issuer's JWKS endpoint: serves whatever `keys` holds and counts the fetches.
struct Jwks {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

async fn serve_jwks(keys: Vec<Value>) -> Jwks {
    let keys = Arc::new(Mutex::new(keys));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, f) = (keys.clone(), fetches.clone());
    let app = axum::Router::new().route(
        "/keys",
        axum::routing::get(move || {
            let (k, f) = (k.clone(), f.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({"keys": *k.lock().unwrap()}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Jwks {
        url: format!("http://{addr}/keys"),
        keys,
        fetches,
    }
}

fn jwt_config(jwks_url: Option<&str>, key: Option<String>) -> JwtConfig {
    JwtConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks_url: jwks_url.map(str::to_owned),
        key,
        algorithms: vec!["RS256".into()],
        leeway_secs: 5,
        jwks_min_refresh_secs: 1,
    }
}

async fn users_as(app: &TestApp, token: &str) -> Resp {
    app.request_as(token, Method::GET, "/Users", None).await
}

fn assert_invalid_token(r: &Resp, what: &str) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.body);
    assert_eq!(
        r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{what}: a SCIM error"
    );
    let www = r.headers["www-authenticate"].to_str().unwrap();
    assert!(www.contains("error=\"invalid_token\""), "{what}: {www}");
}

#[tokio::test]
async fn jwts_from_the_configured_issuer_select_the_tenant_and_everything_else_is_refused() {
    let jwks = serve_jwks(vec![jwk("key1", "k1")]).await;
    let url = jwks.url.clone();
    let app = spawn_with(move |c| c.tenants[0].jwt = Some(jwt_config(Some(&url), None))).await;
    // A user of tenant a, made with its static token (which keeps working).
    let ada = app.create_user("ada@corp.example").await;

    let good = sign("key1", Some("k1"), claims(ISSUER, AUDIENCE, 3600));
    let r = users_as(&app, &good).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["Resources"][0]["id"], ada, "the JWT selected tenant a");
    // An audience list that contains ours is fine.
    let list_aud = sign(
        "key1",
        Some("k1"),
        json!({"iss": ISSUER, "aud": ["other", AUDIENCE], "exp": now() + 600}),
    );
    assert_eq!(users_as(&app, &list_aud).await.status, StatusCode::OK);
    // A SCIM write works with a JWT too.
    let r = app
        .request_as(
            &good,
            Method::POST,
            "/Users",
            Some(json!({"userName": "bob@corp.example"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let expired = sign("key1", Some("k1"), claims(ISSUER, AUDIENCE, -120));
    assert_invalid_token(&users_as(&app, &expired).await, "expired");
    let within_leeway = sign("key1", Some("k1"), claims(ISSUER, AUDIENCE, -2));
    assert_eq!(
        users_as(&app, &within_leeway).await.status,
        StatusCode::OK,
        "expired 2 s ago, within the 5 s leeway"
    );
    let wrong_iss = sign(
        "key1",
        Some("k1"),
        claims("https://sts.windows.net/other-tenant/", AUDIENCE, 3600),
    );
    assert_invalid_token(&users_as(&app, &wrong_iss).await, "wrong issuer");
    let wrong_aud = sign("key1", Some("k1"), claims(ISSUER, "api://something-else", 3600));
    assert_invalid_token(&users_as(&app, &wrong_aud).await, "wrong audience");
    let no_exp = sign("key1", Some("k1"), json!({"iss": ISSUER, "aud": AUDIENCE}));
    assert_invalid_token(&users_as(&app, &no_exp).await, "no expiry");
    // Signed with another key under the known kid.
    let forged = sign("key2", Some("k1"), claims(ISSUER, AUDIENCE, 3600));
    assert_invalid_token(&users_as(&app, &forged).await, "wrong signature");
    // A valid token with its signature swapped for another token's.
    let other = sign("key1", Some("k1"), claims(ISSUER, AUDIENCE, 60));
    let spliced = format!(
        "{}.{}",
        good.rsplit_once('.').unwrap().0,
        other.rsplit_once('.').unwrap().1
    );
    assert_invalid_token(&users_as(&app, &spliced).await, "signature of another token");
    // Unsigned.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": "k1"})),
        b64(&claims(ISSUER, AUDIENCE, 3600))
    );
    assert_invalid_token(&users_as(&app, &none).await, "alg none");
    // HS256 "signed" with the public key as the secret (algorithm confusion).
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("k1".into());
    let confused = jsonwebtoken::encode(
        &h,
        &claims(ISSUER, AUDIENCE, 3600),
        &EncodingKey::from_secret(fixture("key1.pub.pem").as_bytes()).unwrap(),
    )
    .unwrap();
    assert_invalid_token(&users_as(&app, &confused).await, "HS256 with the public key");
    // A token without kid cannot pick a key from the JWKS.
    let no_kid = sign("key1", None, claims(ISSUER, AUDIENCE, 3600));
    assert_invalid_token(&users_as(&app, &no_kid).await, "no kid");
    // A missing token is 401 without an error code; garbage is invalid_token.
    let r = app.client.get(format!("{}/Users", app.scim)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!r.headers()["www-authenticate"].to_str().unwrap().contains("error="));
    assert_invalid_token(&users_as(&app, "not-a-token-at-all-0123").await, "garbage");
    // The body never echoes the token.
    let r = users_as(&app, &forged).await;
    assert!(!r.body.to_string().contains(&forged));
    assert_eq!(
        jwks.fetches.load(Ordering::SeqCst),
        1,
        "the JWKS was fetched once and cached"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_new_kid_refetches_the_jwks_but_bogus_kids_cannot_hammer_the_issuer() {
    let jwks = serve_jwks(vec![jwk("key1", "k1")]).await;
    let url = jwks.url.clone();
    let app = spawn_with(move |c| c.tenants[0].jwt = Some(jwt_config(Some(&url), None))).await;
    let k1 = sign("key1", Some("k1"), claims(ISSUER, AUDIENCE, 3600));
    assert_eq!(users_as(&app, &k1).await.status, StatusCode::OK);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);

    // A flood of made-up kids: at most one refetch per jwks_min_refresh_secs (1 s here).
    let mut refused = 0;
    for i in 0..30 {
        let t = sign("key1", Some(&format!("bogus-{i}")), claims(ISSUER, AUDIENCE, 3600));
        if users_as(&app, &t).await.status == StatusCode::UNAUTHORIZED {
            refused += 1;
        }
    }
    assert_eq!(refused, 30);
    let after_flood = jwks.fetches.load(Ordering::SeqCst);
    assert!(after_flood <= 3, "{after_flood} fetches for 30 bogus kids");

    // The issuer rotates: key2 published under k2, tokens signed with it.
    jwks.keys.lock().unwrap().push(jwk("key2", "k2"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let k2 = sign("key2", Some("k2"), claims(ISSUER, AUDIENCE, 3600));
    let r = users_as(&app, &k2).await;
    assert_eq!(r.status, StatusCode::OK, "the new kid was fetched: {}", r.body);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), after_flood + 1);
    // The old key still works while the issuer still publishes it.
    assert_eq!(users_as(&app, &k1).await.status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_configured_key_and_a_jwt_only_tenant() {
    let key_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt/key2.pub.pem")
        .display()
        .to_string();
    let app = spawn_with(move |c| {
        // Tenant b has no static token at all.
        c.tenants[1].token_env = String::new();
        c.tenants[1].jwt = Some(jwt_config(None, Some(key_path)));
        // Tenant a: same issuer, other audience, inline PEM.
        let mut a = jwt_config(None, Some(fixture("key1.pub.pem")));
        a.audience = "api://tenant-a".into();
        c.tenants[0].jwt = Some(a);
    })
    .await;
    let a = app.create_user("only-in-a@corp.example").await;
    let to_b = sign("key2", None, claims(ISSUER, AUDIENCE, 3600));
    let r = users_as(&app, &to_b).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totalResults"], 0, "the audience selected tenant b");
    let to_a = sign("key1", None, claims(ISSUER, "api://tenant-a", 3600));
    let r = users_as(&app, &to_a).await;
    assert_eq!(r.body["Resources"][0]["id"], a, "the audience selected tenant a");
    // key1 does not sign for tenant b.
    let wrong = sign("key1", None, claims(ISSUER, AUDIENCE, 3600));
    assert_invalid_token(&users_as(&app, &wrong).await, "tenant b's key is key2");
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_jwks_is_a_503_not_a_refusal() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/keys");
    let app = spawn_with(move |c| c.tenants[0].jwt = Some(jwt_config(Some(&url), None))).await;
    let t = sign("key1", Some("k1"), claims(ISSUER, AUDIENCE, 3600));
    for _ in 0..2 {
        let r = users_as(&app, &t).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
        assert!(r.headers.contains_key("retry-after"));
    }
    // The static token is unaffected.
    assert_eq!(app.get("/Users").await.status, StatusCode::OK);
    // Counted for the JWKS alert (deploy/monitoring): the failures, and the successes from
    // 0 on (other tests of this binary share the process's counters, so at least).
    let text = crate::ops::admin_get(&app, "/metrics").await.text().await.unwrap();
    let fetches = |outcome| {
        crate::ops::series(
            &text,
            "cic_bridge_jwks_fetches_total",
            &[("tenant", "a"), ("outcome", outcome)],
        )
    };
    assert!(fetches("error").is_some_and(|n| n >= 1.0), "{text}");
    assert!(fetches("ok").is_some(), "{text}");
    app.stop().await;
}
