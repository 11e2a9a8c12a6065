//! `spawn_app()`: the daemon on a port-0 listener with a fresh database (SQLite, or PostgreSQL
//! with `TEST_DATABASE_URL`, see `db.rs`), and a typed client.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use cic_bridge::app::{self, Secrets};
use cic_bridge::config::{Config, TenantConfig, TenantMode};

pub const TOKEN_A: &str = "tenant-a-token-0123456789";
pub const TOKEN_B: &str = "tenant-b-token-0123456789";
pub const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";

pub struct TestApp {
    /// `http://127.0.0.1:PORT/scim/v2`
    pub scim: String,
    pub root: String,
    pub token: String,
    pub client: reqwest::Client,
    pub db_url: String,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    /// The database this app created (a replica started on another app's database has none).
    _db: Option<crate::db::TestDb>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_default().to_string()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// The SCIM tests run their tenants in `shadow` mode: every operation is recorded, nothing is
/// sent. Engine tests turn a tenant live and point `[cic]` at an emulator (`engine.rs`).
pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_with_secrets(tweak, None).await
}

pub async fn spawn_with_secrets(
    tweak: impl FnOnce(&mut Config),
    cic: Option<cic_bridge::tencent::Credentials>,
) -> TestApp {
    let db = crate::db::fresh().await;
    let url = db.url.clone();
    spawn_on(Some(db), url, tweak, cic).await
}

/// Another replica on the database of an app already running (PostgreSQL).
pub async fn spawn_replica(
    db_url: &str,
    tweak: impl FnOnce(&mut Config),
    cic: Option<cic_bridge::tencent::Credentials>,
) -> TestApp {
    spawn_on(None, db_url.to_owned(), tweak, cic).await
}

async fn spawn_on(
    db: Option<crate::db::TestDb>,
    db_url: String,
    tweak: impl FnOnce(&mut Config),
    cic: Option<cic_bridge::tencent::Credentials>,
) -> TestApp {
    let mut config = Config::default();
    config.database.url = db_url.clone().into();
    config.database.sqlite_synchronous = cic_bridge::config::SqliteSync::Normal;
    config.tenants = vec![
        TenantConfig {
            name: "a".into(),
            zone_id: "z-aaaaaaaaaaaa".into(),
            token_env: "UNUSED_A".into(),
            on_conflict: Default::default(),
            on_username_change: Default::default(),
            mode: TenantMode::Shadow,
            jwt: None,
        },
        TenantConfig {
            name: "b".into(),
            zone_id: "z-bbbbbbbbbbbb".into(),
            token_env: "UNUSED_B".into(),
            on_conflict: Default::default(),
            on_username_change: Default::default(),
            mode: TenantMode::Shadow,
            jwt: None,
        },
    ];
    tweak(&mut config);
    config.validate().expect("test config is valid");
    let secrets = Secrets {
        tenant_tokens: vec![
            ("a".into(), SecretString::from(TOKEN_A)),
            ("b".into(), SecretString::from(TOKEN_B)),
        ],
        cic,
        admin_token: Some(SecretString::from(ADMIN_TOKEN)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app::run(config, secrets, listener, shutdown.clone()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let root = format!("http://{addr}");
    // Ready when /readyz answers (the database is open and migrated).
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{root}/readyz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    TestApp {
        scim: format!("{root}/scim/v2"),
        root,
        token: TOKEN_A.to_string(),
        client,
        db_url,
        shutdown,
        handle: Some(handle),
        _db: db,
    }
}

impl TestApp {
    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.request_as(&self.token, method, path, body).await
    }

    pub async fn request_as(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.scim, path)
        };
        let mut req = self.client.request(method, url).bearer_auth(token);
        if let Some(b) = body {
            req = req.header("content-type", "application/scim+json").body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        read(resp).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.request(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.request(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, ops: Value) -> Resp {
        self.request(
            Method::PATCH,
            path,
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})),
        )
        .await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.request(Method::DELETE, path, None).await
    }

    pub async fn create_user(&self, user_name: &str) -> String {
        let r = self
            .post(
                "/Users",
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "name": {"givenName": "Given", "familyName": "Family"},
                    "emails": [{"value": user_name, "type": "work", "primary": true}],
                    "active": true
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.id()
    }

    pub async fn create_group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let r = self
            .post("/Groups", json!({"displayName": name, "members": members}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.id()
    }

    /// Pending outbox operations of tenant `a`, by kind.
    pub async fn outbox(&self) -> Vec<(String, i64)> {
        crate::db::pairs(
            &self.db_url,
            "SELECT kind, count(*) FROM operations WHERE tenant = 'a' AND state = 'pending' GROUP BY kind ORDER BY kind",
        )
        .await
    }

    /// Stops the daemon but keeps its database for the replicas still running on it.
    pub async fn stop_keeping_db(mut self) -> Option<crate::db::TestDb> {
        let db = self._db.take();
        self.stop().await;
        db
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            let res = tokio::time::timeout(Duration::from_secs(10), h).await;
            assert!(matches!(res, Ok(Ok(Ok(())))), "daemon stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn read(resp: reqwest::Response) -> Resp {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Resp { status, headers, body }
}

pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn filter_path(resource: &str, filter: &str) -> String {
    format!("{resource}?filter={}", enc(filter))
}
