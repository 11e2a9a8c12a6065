//! Crash safety: the real `cic-bridge` binary is killed with SIGKILL while its outbox drains
//! into the emulator, then restarted; Identity Center must end with exactly the expected
//! users, groups and memberships (no duplicates, nothing missing).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::engine::memberships;
use crate::tencent_harness::{SECRET_ID, SECRET_KEY, spawn_emulator};

const TOKEN: &str = "crash-test-token-0123456789";
const ADMIN_TOKEN: &str = "crash-admin-token-0123456789";

struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(config: &Path, log: &Path) -> Daemon {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cic-bridge"))
            .args(["serve", "--config"])
            .arg(config)
            .env("CRASH_TEST_TOKEN", TOKEN)
            .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
            .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
            .env_remove("TENCENTCLOUD_SESSION_TOKEN")
            .env("CIC_BRIDGE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start cic-bridge");
        Daemon { child }
    }

    /// SIGKILL: no shutdown hook runs, leases stay taken until they expire.
    fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_ready(client: &reqwest::Client, root: &str) {
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{root}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("daemon not ready");
}

/// Sends a SCIM write the way an IdP does: retried until the daemon answers. A create whose
/// answer was lost to the crash meets 409 on the retry; the IdP then finds it by filter.
async fn scim(client: &reqwest::Client, base: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
    for _ in 0..400 {
        let r = client
            .request(method.clone(), format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await;
        let Ok(r) = r else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return v;
        }
        if status == StatusCode::CONFLICT {
            let (resource, attr, value) = if path == "/Users" {
                (
                    "Users",
                    "userName",
                    body["userName"].as_str().unwrap_or_default().to_owned(),
                )
            } else {
                (
                    "Groups",
                    "displayName",
                    body["displayName"].as_str().unwrap_or_default().to_owned(),
                )
            };
            let found: Value = client
                .get(format!("{base}/{resource}"))
                .query(&[("filter", format!("{attr} eq \"{value}\""))])
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            return found["Resources"][0].clone();
        }
        panic!("{method} {path}: {status} {v}");
    }
    panic!("{method} {path}: the daemon never answered");
}

async fn pending(db: &str) -> i64 {
    crate::db::try_count(
        db,
        "SELECT count(*) FROM operations WHERE state IN ('pending', 'running')",
    )
    .await
    .unwrap_or(-1)
}

#[tokio::test]
async fn sigkill_mid_load_then_restart_ends_with_exactly_the_expected_state() {
    let emu = spawn_emulator(|c| {
        c.fault_rate = 0.05;
        c.slow_answer = Duration::from_millis(100);
        c.rate_limit = 60;
    })
    .await;
    let test_db = crate::db::fresh().await;
    let dir = &test_db.dir;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let db = test_db.url.clone();
    let config = dir.path().join("cic-bridge.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
[database]
url = "{db}"
[cic]
endpoint = "{url}"
rate_limit_per_action = 50
request_timeout_secs = 2
[engine]
lease_secs = 5
retry_base_ms = 50
retry_cap_secs = 1
max_attempts = 50
create_wait_ms = 0
[[tenants]]
name = "crash"
zone_id = "{zone}"
token_env = "CRASH_TEST_TOKEN"
"#,
            url = emu.url,
            zone = emu.zone()
        ),
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let root = format!("http://127.0.0.1:{port}");
    let base = format!("{root}/scim/v2");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let mut daemon = Daemon::start(&config, &log);
    wait_ready(&client, &root).await;
    let mut users = Vec::new();
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut killed = false;
    for i in 0..150 {
        let name = format!("crash{i:03}@corp.example");
        let u = scim(
            &client,
            &base,
            reqwest::Method::POST,
            "/Users",
            json!({"userName": name, "displayName": format!("Crash {i}")}),
        )
        .await;
        users.push((name, u["id"].as_str().unwrap().to_owned()));
        if i % 30 == 29 {
            let gi = i / 30;
            let gname = format!("crash-group-{gi}");
            let members: Vec<Value> = users.iter().skip(gi * 10).map(|(_, id)| json!({"value": id})).collect();
            expected.insert(
                gname.clone(),
                users.iter().skip(gi * 10).map(|(n, _)| n.clone()).collect(),
            );
            scim(
                &client,
                &base,
                reqwest::Method::POST,
                "/Groups",
                json!({"displayName": gname, "members": members}),
            )
            .await;
        }
        if i == 90 && !killed {
            // The outbox is draining (50/s against 150 users and their memberships).
            let queued = pending(&db).await;
            assert!(queued > 0, "the kill must land while operations are queued");
            daemon.kill9();
            killed = true;
            daemon = Daemon::start(&config, &log);
        }
    }
    assert!(killed);
    wait_ready(&client, &root).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while pending(&db).await != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox did not drain; log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(daemon);
    let s = emu.emulator.snapshot();
    let names: Vec<&str> = s.users.iter().map(|u| u.user_name.as_str()).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(names.len(), 150, "no duplicate users");
    assert_eq!(unique.len(), 150, "nothing missing");
    assert_eq!(memberships(&s), expected);
    let failed = crate::db::count(&db, "SELECT count(*) FROM operations WHERE state = 'failed'").await;
    assert_eq!(failed, 0);
}

#[tokio::test]
async fn sigkill_while_assignment_tasks_run_then_restart_follows_them_without_starting_twice() {
    let emu = spawn_emulator(|c| c.settings.task_delay = Duration::from_millis(2500)).await;
    let rc = crate::tencent_harness::create_role_configuration(&emu.client(), &emu.zone(), "CrashAdmin").await;
    let test_db = crate::db::fresh().await;
    let dir = &test_db.dir;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let db = test_db.url.clone();
    let config = dir.path().join("cic-bridge.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
[database]
url = "{db}"
[cic]
endpoint = "{url}"
[engine]
lease_secs = 5
retry_base_ms = 50
retry_cap_secs = 1
[[tenants]]
name = "crash"
zone_id = "{zone}"
token_env = "CRASH_TEST_TOKEN"
[[assignments]]
group = "crash-admins"
role_configuration_id = "{rc}"
target_uins = [{a}, {b}]
"#,
            url = emu.url,
            zone = emu.zone(),
            rc = rc.role_configuration_id,
            a = crate::tencent_harness::MEMBER_A,
            b = crate::tencent_harness::MEMBER_B,
        ),
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let root = format!("http://127.0.0.1:{port}");
    let base = format!("{root}/scim/v2");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut daemon = Daemon::start(&config, &log);
    wait_ready(&client, &root).await;
    scim(
        &client,
        &base,
        reqwest::Method::POST,
        "/Groups",
        json!({"displayName": "crash-admins"}),
    )
    .await;
    // Wait until both task ids are persisted and the tasks still run, then kill.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n = crate::db::try_count(&db, "SELECT count(*) FROM cic_tasks WHERE status = 'InProgress'")
            .await
            .unwrap_or(0);
        if n == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "tasks never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.kill9();
    assert!(
        emu.emulator
            .snapshot()
            .tasks
            .iter()
            .any(|t| t.status == cic_bridge::tencent::model::TaskState::InProgress),
        "the kill landed while tasks were in progress"
    );
    daemon = Daemon::start(&config, &log);
    wait_ready(&client, &root).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let (busy, done) = crate::db::two_counts(
            &db,
            "SELECT (SELECT count(*) FROM operations WHERE state IN ('pending', 'running')), \
                    (SELECT count(*) FROM cic_tasks WHERE status = 'Success')",
        )
        .await;
        if busy == 0 && done == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "tasks not followed to the end; log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(daemon);
    let s = emu.emulator.snapshot();
    assert_eq!(s.assignments.len(), 2);
    assert_eq!(
        emu.emulator.stats().calls("CreateRoleAssignment"),
        1,
        "no task started twice"
    );
}

#[tokio::test]
async fn sighup_reloads_the_assignment_rules_and_refuses_bad_ones() {
    let emu = spawn_emulator(|_| {}).await;
    let rc = crate::tencent_harness::create_role_configuration(&emu.client(), &emu.zone(), "HupAdmin").await;
    let test_db = crate::db::fresh().await;
    let dir = &test_db.dir;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let db = test_db.url.clone();
    let config = dir.path().join("cic-bridge.toml");
    let base_config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[database]\nurl = \"{db}\"\n[cic]\nendpoint = \"{}\"\n\
         [[tenants]]\nname = \"crash\"\nzone_id = \"{}\"\ntoken_env = \"CRASH_TEST_TOKEN\"\n",
        emu.url,
        emu.zone()
    );
    std::fs::write(&config, &base_config).unwrap();
    let log = dir.path().join("daemon.log");
    let root = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let daemon = Daemon::start(&config, &log);
    wait_ready(&client, &root).await;
    scim(
        &client,
        &format!("{root}/scim/v2"),
        reqwest::Method::POST,
        "/Groups",
        json!({"displayName": "hup-admins"}),
    )
    .await;
    let hup = |pid: u32| {
        let ok = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    // A rule naming a role configuration that does not exist is refused; nothing changes.
    std::fs::write(
        &config,
        format!(
            "{base_config}[[assignments]]\ngroup = \"hup-admins\"\nrole_configuration = \"Nope\"\ntarget_uins = [{}]\n",
            crate::tencent_harness::MEMBER_A
        ),
    )
    .unwrap();
    hup(daemon.child.id());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(emu.emulator.snapshot().assignments.is_empty());
    assert!(
        std::fs::read_to_string(&log).unwrap().contains("Nope"),
        "the refusal names it"
    );
    // A good rule applies to the existing group at once.
    std::fs::write(
        &config,
        format!(
            "{base_config}[[assignments]]\ngroup = \"hup-admins\"\nrole_configuration_id = \"{}\"\ntarget_uins = [{}]\n",
            rc.role_configuration_id,
            crate::tencent_harness::MEMBER_A
        ),
    )
    .unwrap();
    hup(daemon.child.id());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while emu.emulator.snapshot().assignments.len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rule not applied; log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A department that does not exist is refused by name; the rules in force stay.
    let with = |departments: &str| {
        format!(
            "{base_config}[[assignments]]\ngroup = \"hup-admins\"\nrole_configuration_id = \"{}\"\ndepartments = [{departments}]\n",
            rc.role_configuration_id
        )
    };
    std::fs::write(&config, with("\"NoSuchDepartment\"")).unwrap();
    hup(daemon.child.id());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("NoSuchDepartment")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refusal names the department"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(emu.emulator.snapshot().assignments.len(), 1, "the rule in force stays");
    // The root department by its own name: every member account (A and B) gets the role.
    std::fs::write(&config, with("\"Root\"")).unwrap();
    hup(daemon.child.id());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while emu.emulator.snapshot().assignments.len() != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "department rule not applied; log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(daemon);
}

fn replica_config(
    dir: &Path,
    name: &str,
    port: u16,
    db: &str,
    emu: &crate::tencent_harness::TestEmulator,
) -> std::path::PathBuf {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
[database]
url = "{db}"
[cic]
endpoint = "{url}"
request_timeout_secs = 2
[engine]
lease_secs = 5
retry_base_ms = 50
retry_cap_secs = 1
max_attempts = 50
create_wait_ms = 0
[[tenants]]
name = "crash"
zone_id = "{zone}"
token_env = "CRASH_TEST_TOKEN"
"#,
            url = emu.url,
            zone = emu.zone()
        ),
    )
    .unwrap();
    config
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn leads(client: &reqwest::Client, root: &str) -> bool {
    let Ok(r) = client
        .get(format!("{root}/admin/status"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
    else {
        return false;
    };
    r.json::<Value>()
        .await
        .map(|v| v["engineLeader"] == true)
        .unwrap_or(false)
}

/// Two replicas (real binaries) on one PostgreSQL database under SCIM load through both, at
/// Identity Center's default rate limit (20/s per action, enforced by the emulator), with
/// faults; the leader is killed with SIGKILL midway and the load goes on through the other.
/// Identity Center ends with exactly the expected users and memberships, and never answered
/// RequestLimitExceeded.
#[tokio::test]
async fn sigkill_of_the_leading_replica_mid_load_ends_exact_without_throttling() {
    if !crate::db::is_postgres() {
        eprintln!("skipped on SQLite: one SQLite file serves one process (set TEST_DATABASE_URL)");
        return;
    }
    let emu = spawn_emulator(|c| {
        c.fault_rate = 0.05;
        c.slow_answer = Duration::from_millis(50);
        c.rate_limit = 20;
    })
    .await;
    let test_db = crate::db::fresh().await;
    let dir = test_db.dir.path();
    let db = test_db.url.clone();
    let (port_a, port_b) = (free_port(), free_port());
    let config_a = replica_config(dir, "a", port_a, &db, &emu);
    let config_b = replica_config(dir, "b", port_b, &db, &emu);
    let (log_a, log_b) = (dir.join("a.log"), dir.join("b.log"));
    let (root_a, root_b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // A starts first, so it takes the leader lock; B follows.
    let mut a = Daemon::start(&config_a, &log_a);
    wait_ready(&client, &root_a).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !leads(&client, &root_a).await {
        assert!(tokio::time::Instant::now() < deadline, "A never led");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = Daemon::start(&config_b, &log_b);
    wait_ready(&client, &root_b).await;
    assert!(!leads(&client, &root_b).await, "B follows");

    let mut users = Vec::new();
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut a_alive = true;
    for i in 0..120 {
        let base = if a_alive && i % 2 == 0 { &root_a } else { &root_b };
        let base = format!("{base}/scim/v2");
        let name = format!("rep{i:03}@corp.example");
        let u = scim(
            &client,
            &base,
            reqwest::Method::POST,
            "/Users",
            json!({"userName": name}),
        )
        .await;
        users.push((name, u["id"].as_str().unwrap().to_owned()));
        if i % 40 == 39 {
            let gi = i / 40;
            let gname = format!("rep-group-{gi}");
            let members: Vec<Value> = users.iter().skip(gi * 20).map(|(_, id)| json!({"value": id})).collect();
            expected.insert(
                gname.clone(),
                users.iter().skip(gi * 20).map(|(n, _)| n.clone()).collect(),
            );
            scim(
                &client,
                &base,
                reqwest::Method::POST,
                "/Groups",
                json!({"displayName": gname, "members": members}),
            )
            .await;
        }
        if i == 70 {
            let queued = pending(&db).await;
            assert!(queued > 0, "the kill must land while operations are queued");
            a.kill9();
            a_alive = false;
        }
    }
    assert!(!a_alive);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while pending(&db).await != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox did not drain; B's log: {}",
            std::fs::read_to_string(&log_b).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(leads(&client, &root_b).await, "B took the engine over");
    drop(b);
    let s = emu.emulator.snapshot();
    let names: Vec<&str> = s.users.iter().map(|u| u.user_name.as_str()).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(names.len(), 120, "no duplicate users");
    assert_eq!(unique.len(), 120, "nothing missing");
    assert_eq!(memberships(&s), expected);
    assert_eq!(
        crate::db::count(&db, "SELECT count(*) FROM operations WHERE state = 'failed'").await,
        0
    );
    assert_eq!(emu.emulator.stats().total_throttled(), 0, "never over the rate limit");
    eprintln!(
        "CreateUser calls: {} for 120 users (more only where an answer was lost or the kill landed mid-call)",
        emu.emulator.stats().calls("CreateUser")
    );
}
