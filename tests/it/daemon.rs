//! The real binary as an operator runs it: `cic-bridge serve --config`, with the emulator on
//! loopback. Its log output never holds a secret and names the RequestId of every Identity
//! Center call; SIGTERM lets the in-flight request finish, hands the engine's leases back and
//! exits 0 within `server.shutdown_timeout_secs`.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cic_bridge::emulator::Fault;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::tencent_harness::{SECRET_ID, SECRET_KEY, TestEmulator, spawn_emulator};

const SCIM_TOKEN: &str = "daemon-scim-token-5f2c9a7e1b";
const ADMIN: &str = "daemon-admin-token-83d1e6c4a9";

struct Daemon {
    child: tokio::process::Child,
    root: String,
    log: Arc<Mutex<Vec<String>>>,
}

fn write_config(dir: &Path, emu: &TestEmulator, format: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("cic-bridge.toml");
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
shutdown_timeout_secs = 3

[database]
url = "sqlite://{db}"

[log]
format = "{format}"
level = "cic_bridge=debug,tower_http=debug,info"

[cic]
endpoint = "{endpoint}"
request_timeout_secs = 20

[engine]
deployment_check_secs = 0
{extra}

[[tenants]]
name = "corp"
zone_id = "{zone}"
token_env = "DAEMON_TEST_SCIM_TOKEN"
"#,
        db = dir.join("bridge.db").display(),
        endpoint = emu.url,
        zone = emu.zone(),
    );
    std::fs::write(&path, toml).unwrap();
    path
}

async fn start(config: &Path) -> Daemon {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cic-bridge"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .env("DAEMON_TEST_SCIM_TOKEN", SCIM_TOKEN)
        .env("CIC_BRIDGE_ADMIN_TOKEN", ADMIN)
        .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the cic-bridge binary starts");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    {
        let log = log.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            let mut addr_tx = Some(addr_tx);
            let re = regex::Regex::new(r"127\.0\.0\.1:(\d+)").unwrap();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("serving SCIM") {
                    if let (Some(c), Some(tx)) = (re.captures(&line), addr_tx.take()) {
                        let _ = tx.send(c[1].to_string());
                    }
                }
                log.lock().unwrap().push(line);
            }
        });
    }
    let port = tokio::time::timeout(Duration::from_secs(30), addr_rx)
        .await
        .unwrap_or_else(|_| panic!("no 'serving SCIM' line; log:\n{}", log.lock().unwrap().join("\n")))
        .unwrap();
    Daemon {
        child,
        root: format!("http://127.0.0.1:{port}"),
        log,
    }
}

impl Daemon {
    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    async fn signal(&self, sig: &str) {
        let pid = self.child.id().unwrap().to_string();
        let ok = tokio::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .await
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// Waits for the exit; returns the exit code and how long it took.
    async fn exit(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let started = Instant::now();
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("still running after {limit:?}; log:\n{}", self.log()))
            .unwrap();
        // Let the reader take the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status.code(), started.elapsed())
    }
}

fn scim(client: &reqwest::Client, d: &Daemon, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    client
        .request(method, format!("{}/scim/v2{path}", d.root))
        .bearer_auth(SCIM_TOKEN)
        .header("content-type", "application/scim+json")
}

#[tokio::test]
async fn logs_name_request_ids_and_never_a_secret() {
    let emu = spawn_emulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emu, "json", "create_wait_ms = 5000");
    let mut d = start(&config).await;
    let client = reqwest::Client::new();
    let r = scim(&client, &d, reqwest::Method::POST, "/Users")
        .body(json!({"userName": "log.test@corp.example", "emails": [{"value": "log.test@corp.example", "primary": true}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let r = scim(&client, &d, reqwest::Method::PATCH, &format!("/Users/{id}"))
        .body(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                     "Operations": [{"op": "replace", "path": "displayName", "value": "Log Test"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    scim(
        &client,
        &d,
        reqwest::Method::GET,
        "/Users?filter=userName%20eq%20%22log.test%40corp.example%22",
    )
    .send()
    .await
    .unwrap();
    // Refused tokens, the admin API (bearer and Basic), the page and the metrics.
    let admin = |path: &str| client.get(format!("{}{path}", d.root));
    admin("/admin/status").bearer_auth(SCIM_TOKEN).send().await.unwrap();
    assert_eq!(
        admin("/admin/status").bearer_auth(ADMIN).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        admin("/admin")
            .basic_auth("ops", Some(ADMIN))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        admin("/metrics").bearer_auth(ADMIN).send().await.unwrap().status(),
        StatusCode::OK
    );
    scim(&client, &d, reqwest::Method::GET, "/Users")
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    d.signal("-INT").await;
    let (code, _) = d.exit(Duration::from_secs(10)).await;
    assert_eq!(code, Some(0), "SIGINT exits 0; log:\n{}", d.log());

    let log = d.log();
    for secret in [SCIM_TOKEN, ADMIN, SECRET_KEY] {
        assert!(!log.contains(secret), "the log holds a secret ({secret}):\n{log}");
    }
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let calls: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Identity Center call"))
        })
        .collect();
    assert!(
        calls.iter().any(|l| l["action"] == "CreateUser"),
        "a line about the CreateUser call:\n{log}"
    );
    for l in &calls {
        let rid = l["request_id"].as_str().unwrap_or_default();
        assert!(rid.len() >= 8, "every line about a call has its RequestId: {l}");
    }
    // The engine's operation span carries job, kind and attempt.
    let done = lines
        .iter()
        .find(|l| l["message"] == "done" && l["span"]["kind"] == "user.sync")
        .unwrap_or_else(|| panic!("no 'done' line of user.sync:\n{log}"));
    assert!(
        done["span"]["job"].is_i64() && done["span"]["attempt"].is_i64(),
        "{done}"
    );
    // And each SCIM request its request id.
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["name"] == "http" && l["span"]["request_id"].as_str().is_some_and(|r| r.len() == 36)),
        "{log}"
    );
}

#[tokio::test]
async fn sigterm_finishes_the_request_hands_back_leases_and_exits_zero() {
    let emu = spawn_emulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emu, "human", "create_wait_ms = 1500");
    let mut d = start(&config).await;
    // The status sampler asks for the zone's statistics once at start: let it, so that the
    // slow answer below goes to the engine's operation.
    for _ in 0..100 {
        if emu.emulator.stats().calls("GetZoneStatistics") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    emu.emulator.inject_faults([Fault::Slow(Duration::from_secs(8))]);
    let client = reqwest::Client::new();
    let request = scim(&client, &d, reqwest::Method::POST, "/Users")
        .body(json!({"userName": "slow@corp.example"}).to_string())
        .send();
    let in_flight = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let signalled = Instant::now();
    d.signal("-TERM").await;
    let answer = in_flight.await.unwrap().expect("the in-flight request gets its answer");
    assert!(answer.status().is_success(), "{}", answer.status());
    let (code, _) = d.exit(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    assert_eq!(code, Some(0), "log:\n{}", d.log());
    assert!(took < Duration::from_secs(3 + 2), "exit took {took:?} (deadline 3 s)");
    let log = d.log();
    assert!(log.contains("handed back claims"), "{log}");

    // The operation is queued again without a lease, not left running until it expires.
    let db = format!("sqlite://{}", dir.path().join("bridge.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    let ops: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT state, lease_owner FROM operations WHERE kind = 'user.sync'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(ops, vec![("pending".to_string(), None)], "{log}");

    // A new process claims it at once (the lease is 60 s) and finishes it: the slow create
    // did happen, and the re-run finds the user instead of creating a second one.
    let mut d = start(&config).await;
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let (state,): (String,) = sqlx::query_as("SELECT state FROM operations WHERE kind = 'user.sync'")
            .fetch_one(&pool)
            .await
            .unwrap();
        if state == "done" {
            break;
        }
        assert!(Instant::now() < deadline, "still {state} after 8 s; log:\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool.close().await;
    let users: Vec<_> = emu
        .emulator
        .snapshot()
        .users
        .into_iter()
        .filter(|u| u.user_name == "slow@corp.example")
        .collect();
    assert_eq!(users.len(), 1);
    d.signal("-TERM").await;
    assert_eq!(d.exit(Duration::from_secs(10)).await.0, Some(0));
}
