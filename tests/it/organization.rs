//! Department and tag rules (issue 15), end to end: the emulator models the organization's
//! departments and member accounts, accounts move (through the Organization API, as in
//! Tencent Cloud's console) or change tags, and the daemon follows within one refresh.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::engine::{drain, spawn_live};
use crate::helpers::{ADMIN_TOKEN, TestApp};
use crate::tencent_harness::{TestEmulator, create_role_configuration, spawn_emulator};
use cic_bridge::config::{AssignmentConfig, DepartmentRef};
use cic_bridge::emulator::EmulatorConfig;
use cic_bridge::tencent::model::{MoveOrganizationNodeMembers, TaskState};

const A: u64 = 100_000_000_001;
const B: u64 = 100_000_000_002;
const C: u64 = 100_000_000_003;
const D: u64 = 100_000_000_004;

/// A (Production), B (Production/Payments), C (Sandbox), D (the root).
fn tree(c: &mut EmulatorConfig) {
    c.settings.task_delay = Duration::from_millis(100);
    c.settings.member_uins = vec![A, B, C, D];
    c.settings.departments = vec![
        ("Production".into(), vec![A]),
        ("Production/Payments".into(), vec![B]),
        ("Sandbox".into(), vec![C]),
    ];
}

fn dept(path: &str) -> DepartmentRef {
    DepartmentRef::Path(path.into())
}

/// (role configuration name, account) of every role assignment in the emulator.
fn grants(emu: &TestEmulator) -> BTreeSet<(String, u64)> {
    let s = emu.emulator.snapshot();
    s.assignments
        .iter()
        .map(|a| {
            let name = s
                .role_configurations
                .iter()
                .find(|r| r.role_configuration_id == a.role_configuration_id)
                .map(|r| r.role_configuration_name.clone())
                .unwrap_or_default();
            (name, a.target_uin)
        })
        .collect()
}

fn set(pairs: &[(&str, u64)]) -> BTreeSet<(String, u64)> {
    pairs.iter().map(|(n, u)| ((*n).to_owned(), *u)).collect()
}

async fn admin(app: &TestApp, method: reqwest::Method, path: &str) -> (u16, Value) {
    let r = app
        .client
        .request(method, format!("{}{path}", app.root))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn refresh(app: &TestApp) -> Value {
    let (code, body) = admin(app, reqwest::Method::POST, "/admin/organization/refresh").await;
    assert_eq!(code, 200, "{body}");
    body
}

async fn move_to(emu: &TestEmulator, path: &str, uins: &[u64]) {
    let node_id = emu.emulator.department_id(path).expect("department exists");
    emu.client()
        .call(&MoveOrganizationNodeMembers {
            node_id,
            member_uin: uins.to_vec(),
        })
        .await
        .expect("moved");
}

async fn failed(app: &TestApp) -> Vec<String> {
    crate::db::strings(&app.db_url, "SELECT last_error FROM operations WHERE state = 'failed'").await
}

/// (task type, role configuration name, account) -> how many tasks of it ran.
fn task_counts(emu: &TestEmulator) -> std::collections::BTreeMap<(String, String, u64), usize> {
    let mut out = std::collections::BTreeMap::new();
    for t in emu.emulator.snapshot().tasks {
        *out.entry((t.task_type.clone(), t.role_configuration_name.clone(), t.target_uin))
            .or_insert(0) += 1;
    }
    out
}

/// Each (role, account) was assigned once and unassigned at most once: `created` and
/// `deleted` list them.
fn each_once(emu: &TestEmulator, created: &[(&str, u64)], deleted: &[(&str, u64)]) {
    let counts = task_counts(emu);
    let want = |kind: &str, list: &[(&str, u64)]| -> Vec<((String, String, u64), usize)> {
        let mut v: Vec<_> = list
            .iter()
            .map(|(n, u)| ((kind.to_owned(), (*n).to_owned(), *u), 1))
            .collect();
        v.sort();
        v
    };
    let got = |kind: &str| -> Vec<((String, String, u64), usize)> {
        counts
            .iter()
            .filter(|((k, _, _), _)| k == kind)
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    };
    assert_eq!(got("CreateRoleAssignment"), want("CreateRoleAssignment", created));
    assert_eq!(got("DeleteRoleAssignment"), want("DeleteRoleAssignment", deleted));
}

fn all_tasks_succeeded(emu: &TestEmulator) {
    let tasks = emu.emulator.snapshot().tasks;
    assert!(!tasks.is_empty());
    assert!(
        tasks.iter().all(|t| t.status == TaskState::Success),
        "every task ends Success: {tasks:?}"
    );
}

#[tokio::test]
async fn accounts_moved_in_and_out_of_a_department_follow_within_one_refresh() {
    let emu = spawn_emulator(tree).await;
    create_role_configuration(&emu.client(), &emu.zone(), "OpsAccess").await;
    create_role_configuration(&emu.client(), &emu.zone(), "ReadOnly").await;
    let app = spawn_live(&emu, |c| {
        c.engine.organization_refresh_secs = 0;
        c.assignments = vec![
            AssignmentConfig {
                group: Some("payments-oncall".into()),
                role_configuration: Some("OpsAccess".into()),
                departments: vec![dept("Production")],
                ..Default::default()
            },
            AssignmentConfig {
                group: Some("payments-oncall".into()),
                role_configuration: Some("ReadOnly".into()),
                target_uins: vec![D],
                ..Default::default()
            },
        ];
    })
    .await;
    let u = app.create_user("oncall@corp.example").await;
    app.create_group("payments-oncall", &[&u]).await;
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None, "{:?}", failed(&app).await);
    assert_eq!(
        grants(&emu),
        set(&[("OpsAccess", A), ("OpsAccess", B), ("ReadOnly", D)]),
        "Production and its sub-department Payments"
    );

    // C joins Production/Payments in the console: one refresh, and it has the role.
    move_to(&emu, "Production/Payments", &[C]).await;
    let r = refresh(&app).await;
    assert_eq!(r["outcome"], "applied", "{r}");
    assert_eq!(
        (r["assignmentsAdded"].as_u64(), r["assignmentsRemoved"].as_u64()),
        (Some(1), Some(0))
    );
    drain(&app, Duration::from_secs(30)).await;
    assert_eq!(
        grants(&emu),
        set(&[("OpsAccess", A), ("OpsAccess", B), ("OpsAccess", C), ("ReadOnly", D)])
    );

    // B leaves for Sandbox: it loses that rule's assignment, and only that one.
    move_to(&emu, "Sandbox", &[B]).await;
    let r = refresh(&app).await;
    assert_eq!(
        (r["assignmentsAdded"].as_u64(), r["assignmentsRemoved"].as_u64()),
        (Some(0), Some(1)),
        "{r}"
    );
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None, "{:?}", failed(&app).await);
    assert_eq!(
        grants(&emu),
        set(&[("OpsAccess", A), ("OpsAccess", C), ("ReadOnly", D)])
    );
    // Nothing changed since: a refresh is a no-op.
    assert_eq!(refresh(&app).await["outcome"], "unchanged");
    drain(&app, Duration::from_secs(10)).await;

    each_once(
        &emu,
        &[("OpsAccess", A), ("OpsAccess", B), ("ReadOnly", D), ("OpsAccess", C)],
        &[("OpsAccess", B)],
    );
    all_tasks_succeeded(&emu);

    // explain says why each account is targeted.
    let (code, e) = admin(&app, reqwest::Method::GET, "/admin/explain?user=oncall@corp.example").await;
    assert_eq!(code, 200, "{e}");
    let text = e.to_string();
    assert!(text.contains("via") && text.contains("department Production"), "{text}");
    let (_, e) = admin(&app, reqwest::Method::GET, &format!("/admin/explain?account={C}")).await;
    assert!(
        e.to_string().contains("department Production (assignments[0]"),
        "C is in Production/Payments, under the rule's Production: {e}"
    );

    // /admin/status shows the snapshot.
    let (_, s) = admin(&app, reqwest::Method::GET, "/admin/status").await;
    let o = &s["organization"];
    assert_eq!(
        (o["accounts"].as_u64(), o["departments"].as_u64()),
        (Some(4), Some(4)),
        "{o}"
    );
    assert!(o["lastError"].is_null() && o["held"].is_null(), "{o}");
}

#[tokio::test]
async fn tags_and_top_level_departments_are_followed_by_the_periodic_refresh() {
    let emu = spawn_emulator(|c| {
        tree(c);
        c.settings.member_tags = vec![(A, "env".into(), "prod".into()), (C, "env".into(), "dev".into())];
    })
    .await;
    create_role_configuration(&emu.client(), &emu.zone(), "OpsAccess").await;
    create_role_configuration(&emu.client(), &emu.zone(), "Auditor").await;
    let app = spawn_live(&emu, |c| {
        c.engine.organization_refresh_secs = 1;
        c.assignments = vec![
            AssignmentConfig {
                group: Some("sre".into()),
                role_configuration: Some("OpsAccess".into()),
                account_tags: [("env".to_owned(), "prod".to_owned())].into(),
                ..Default::default()
            },
            AssignmentConfig {
                group: Some("sre".into()),
                role_configuration: Some("Auditor".into()),
                departments: vec![dept("Production")],
                include_sub_departments: false,
                ..Default::default()
            },
        ];
    })
    .await;
    let u = app.create_user("sre@corp.example").await;
    app.create_group("sre", &[&u]).await;
    drain(&app, Duration::from_secs(30)).await;
    assert_eq!(
        grants(&emu),
        set(&[("OpsAccess", A), ("Auditor", A)]),
        "tag env=prod; Production without its sub-department Payments"
    );

    // Tags change in Tencent Cloud: C becomes prod, A becomes dev. No refresh is asked for;
    // the periodic one (every second here) finds it.
    emu.emulator.set_member_tags(C, &[("env", "prod")]).unwrap();
    emu.emulator.set_member_tags(A, &[("env", "dev")]).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while grants(&emu) != set(&[("OpsAccess", C), ("Auditor", A)]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tag change was not followed: {:?}",
            grants(&emu)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None, "{:?}", failed(&app).await);
    each_once(
        &emu,
        &[("OpsAccess", A), ("Auditor", A), ("OpsAccess", C)],
        &[("OpsAccess", A)],
    );
    all_tasks_succeeded(&emu);
    let (_, e) = admin(&app, reqwest::Method::GET, "/admin/explain?user=sre@corp.example").await;
    assert!(e.to_string().contains("tag env=prod"), "{e}");
}

#[tokio::test]
async fn a_refresh_that_would_empty_a_department_rule_trips_the_fuse_and_a_failed_one_changes_nothing() {
    let emu = spawn_emulator(|c| {
        tree(c);
        c.settings.departments.push(("Production/Core".into(), vec![D]));
    })
    .await;
    create_role_configuration(&emu.client(), &emu.zone(), "OpsAccess").await;
    let app = spawn_live(&emu, |c| {
        c.engine.organization_refresh_secs = 0;
        c.engine.fuse_share = 0.5;
        c.engine.fuse_min = 1;
        c.assignments = vec![AssignmentConfig {
            group: Some("ops".into()),
            role_configuration: Some("OpsAccess".into()),
            departments: vec![dept("Production")],
            ..Default::default()
        }];
    })
    .await;
    let u = app.create_user("ops@corp.example").await;
    app.create_group("ops", &[&u]).await;
    drain(&app, Duration::from_secs(30)).await;
    let before = set(&[("OpsAccess", A), ("OpsAccess", B), ("OpsAccess", D)]);
    assert_eq!(grants(&emu), before);

    // A failed refresh (Identity Center throttles it) keeps the snapshot and raises an alarm.
    move_to(&emu, "Sandbox", &[D]).await;
    emu.emulator.inject_fault_on(
        "DescribeOrganizationMembers",
        cic_bridge::emulator::Fault::RequestLimitExceeded,
    );
    let (code, body) = admin(&app, reqwest::Method::POST, "/admin/organization/refresh").await;
    assert_eq!(code, 502, "{body}");
    let (_, s) = admin(&app, reqwest::Method::GET, "/admin/status").await;
    assert!(
        s["organization"]["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("RequestLimitExceeded"),
        "{}",
        s["organization"]
    );
    assert!(
        s["alarms"].to_string().contains("organizationRefresh"),
        "{}",
        s["alarms"]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    drain(&app, Duration::from_secs(10)).await;
    assert_eq!(grants(&emu), before, "nothing changed");

    // Every account leaves Production: 3 removals against a limit of 2 (50% of 3).
    move_to(&emu, "Sandbox", &[A, B]).await;
    let r = refresh(&app).await;
    assert_eq!(r["outcome"], "held", "{r}");
    assert_eq!(
        (r["assignmentsRemoved"].as_u64(), r["limit"].as_u64()),
        (Some(3), Some(2))
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    drain(&app, Duration::from_secs(10)).await;
    assert_eq!(grants(&emu), before, "held, not applied");
    let (_, s) = admin(&app, reqwest::Method::GET, "/admin/status").await;
    assert!(s["alarms"].to_string().contains("organizationFuse"), "{}", s["alarms"]);
    assert!(
        !s["alarms"].to_string().contains("organizationRefresh"),
        "the failure alarm cleared"
    );
    assert!(s["organization"]["held"].as_str().is_some(), "{}", s["organization"]);
    // Asking again does not get past the fuse…
    assert_eq!(refresh(&app).await["outcome"], "held");
    // …an operator's release does.
    let (code, body) = admin(&app, reqwest::Method::POST, "/admin/jobs/release-held").await;
    assert_eq!(
        (code, body["organizationReleased"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None, "{:?}", failed(&app).await);
    assert!(grants(&emu).is_empty(), "{:?}", grants(&emu));
    each_once(
        &emu,
        &[("OpsAccess", A), ("OpsAccess", B), ("OpsAccess", D)],
        &[("OpsAccess", A), ("OpsAccess", B), ("OpsAccess", D)],
    );
    let (_, s) = admin(&app, reqwest::Method::GET, "/admin/status").await;
    assert!(!s["alarms"].to_string().contains("organizationFuse"), "{}", s["alarms"]);
    assert_eq!(refresh(&app).await["outcome"], "unchanged");
    all_tasks_succeeded(&emu);
}

/// README's worked example, step by step, against the real binary in `serve --dev`.
#[tokio::test]
async fn the_readme_example_runs_against_serve_dev() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[assignments]]\ngroup = \"payments-oncall\"\nrole_configuration = \"DevReadOnly\"\ndepartments = [\"Production\"]\n",
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cic-bridge"))
        .args([
            "serve",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--emulator-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--rules")
        .arg(&rules)
        .args(["--department", "Production=100000000001"])
        .env_remove("CIC_BRIDGE_DEV_TOKEN")
        .env_remove("CIC_BRIDGE_ADMIN_TOKEN")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut scim, mut emulator) = (None, None);
    let banner = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(u) = line.trim().strip_prefix("SCIM base URL: ") {
                scim = Some(u.to_owned());
            }
            if let Some(u) = line.trim().strip_prefix("Identity Center emulator: ") {
                emulator = u.split_whitespace().next().map(str::to_owned);
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), banner)
        .await
        .expect("the banner");
    let (scim, emulator) = (scim.expect("SCIM URL"), emulator.expect("emulator URL"));
    let root = scim.trim_end_matches("/scim/v2").to_owned();
    let token = std::fs::read_to_string(dir.path().join("data/dev-token")).unwrap();
    let admin = std::fs::read_to_string(dir.path().join("data/admin-token")).unwrap();
    let http = reqwest::Client::new();

    let r = http
        .post(format!("{scim}/Groups"))
        .bearer_auth(token.trim())
        .header("Content-Type", "application/scim+json")
        .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"payments-oncall"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let accounts = || async {
        let s: Value = http
            .get(format!("{emulator}/_emulator/snapshot"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut v: Vec<(String, u64)> = s["Assignments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["RoleConfigurationId"].as_str().unwrap().to_owned(),
                    a["TargetUin"].as_u64().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let wait_for = |want: Vec<(String, u64)>| {
        let accounts = &accounts;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let got = accounts().await;
                if got == want {
                    return;
                }
                assert!(tokio::time::Instant::now() < deadline, "{got:?} != {want:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    wait_for(vec![("rc-devreadonly1".into(), A)]).await;

    let r = http
        .put(format!("{emulator}/_emulator/accounts/{B}"))
        .body(r#"{"department": "Production/Payments"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let r: Value = http
        .post(format!("{root}/admin/organization/refresh"))
        .bearer_auth(admin.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        r,
        serde_json::json!({"outcome": "applied", "queued": 1, "assignmentsAdded": 1, "assignmentsRemoved": 0})
    );
    wait_for(vec![("rc-devreadonly1".into(), A), ("rc-devreadonly1".into(), B)]).await;
    let e: Value = http
        .get(format!("{root}/admin/explain?account={B}"))
        .bearer_auth(admin.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        e.to_string()
            .contains(r#"department Production (assignments[0]: group = \"payments-oncall\")"#),
        "{e}"
    );
    // An account that leaves the organization loses it at the next refresh.
    let r = http
        .delete(format!("{emulator}/_emulator/accounts/{B}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    http.post(format!("{root}/admin/organization/refresh"))
        .bearer_auth(admin.trim())
        .send()
        .await
        .unwrap();
    wait_for(vec![("rc-devreadonly1".into(), A)]).await;
    let _ = child.kill().await;
}

/// Reconciliation compares with what department rules give; the refresh shows in /metrics.
#[tokio::test]
async fn reconcile_restores_a_department_assignment_removed_by_hand_and_metrics_count_refreshes() {
    use cic_bridge::tencent::model::{DeleteRoleAssignment, PrincipalType, TargetType};
    let emu = spawn_emulator(tree).await;
    let rc = create_role_configuration(&emu.client(), &emu.zone(), "OpsAccess").await;
    let app = spawn_live(&emu, |c| {
        c.engine.organization_refresh_secs = 0;
        c.assignments = vec![AssignmentConfig {
            group: Some("ops".into()),
            role_configuration: Some("OpsAccess".into()),
            departments: vec![dept("Production/Payments")],
            ..Default::default()
        }];
    })
    .await;
    app.create_group("ops", &[]).await;
    drain(&app, Duration::from_secs(30)).await;
    assert_eq!(grants(&emu), set(&[("OpsAccess", B)]));
    let (_, plan) = admin(&app, reqwest::Method::POST, "/admin/reconcile?tenant=a").await;
    assert_eq!(plan["drift"], 0, "{plan}");

    // Someone removes the department's assignment in the console.
    let group = emu.emulator.snapshot().groups[0].group_id.clone();
    emu.client()
        .call(&DeleteRoleAssignment {
            zone_id: emu.zone(),
            role_configuration_id: rc.role_configuration_id.clone(),
            target_type: TargetType::MemberUin,
            target_uin: B,
            principal_type: PrincipalType::Group,
            principal_id: group,
            deprovision_strategy: None,
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(grants(&emu).is_empty());
    let (_, plan) = admin(&app, reqwest::Method::POST, "/admin/reconcile?tenant=a").await;
    assert!(plan["drift"].as_u64().unwrap_or(0) >= 1, "{plan}");
    assert!(
        plan.to_string().contains(&B.to_string()),
        "the plan names the account: {plan}"
    );
    let (code, applied) = admin(&app, reqwest::Method::POST, "/admin/reconcile?tenant=a&apply=true").await;
    assert_eq!(code, 200, "{applied}");
    drain(&app, Duration::from_secs(30)).await;
    assert_eq!(grants(&emu), set(&[("OpsAccess", B)]), "restored");

    refresh(&app).await;
    let metrics = app
        .client
        .get(format!("{}/metrics", app.root))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cic_bridge_organization_refreshes_total{outcome=\"unchanged\"}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("cic_bridge_organization_refresh_duration_seconds"),
        "{metrics}"
    );
}

/// `cic-bridge organization refresh` and `show` talk to a running daemon's admin API.
#[tokio::test]
async fn the_organization_cli_refreshes_and_shows_the_snapshot() {
    let emu = spawn_emulator(tree).await;
    create_role_configuration(&emu.client(), &emu.zone(), "OpsAccess").await;
    let app = spawn_live(&emu, |c| {
        c.engine.organization_refresh_secs = 0;
        c.assignments = vec![AssignmentConfig {
            group: Some("ops".into()),
            role_configuration: Some("OpsAccess".into()),
            departments: vec![dept("Production")],
            ..Default::default()
        }];
    })
    .await;
    app.create_group("ops", &[]).await;
    drain(&app, Duration::from_secs(30)).await;
    move_to(&emu, "Production", &[C]).await;
    let cli = |args: Vec<String>| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cic-bridge"))
            .args(args)
            .env("CIC_BRIDGE_ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .expect("the binary runs")
    };
    let root = app.root.clone();
    let args = vec!["organization".into(), "refresh".into(), "--url".into(), root.clone()];
    let out = tokio::task::spawn_blocking(move || cli(args)).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("organization changed: 1 assignment(s) to add, 0 to remove"),
        "{stdout}"
    );
    let args = vec!["organization".into(), "show".into(), "--url".into(), root];
    let out = tokio::task::spawn_blocking(move || cli(args)).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        stdout.contains("organization: 4 departments, 4 member accounts"),
        "{stdout}"
    );
    drain(&app, Duration::from_secs(30)).await;
    assert_eq!(
        grants(&emu),
        set(&[("OpsAccess", A), ("OpsAccess", B), ("OpsAccess", C)])
    );
}

/// A refresh asked of a replica that does not lead the engine reaches the leader's workers:
/// they resolve the rules against the snapshot the store holds, not a copy of their own.
#[tokio::test]
async fn a_refresh_through_another_replica_reaches_the_leaders_workers() {
    if !crate::db::is_postgres() {
        return;
    }
    let emu = spawn_emulator(tree).await;
    create_role_configuration(&emu.client(), &emu.zone(), "OpsAccess").await;
    let rules = |c: &mut cic_bridge::config::Config| {
        c.engine.organization_refresh_secs = 0;
        c.assignments = vec![AssignmentConfig {
            group: Some("ops".into()),
            role_configuration: Some("OpsAccess".into()),
            departments: vec![dept("Production")],
            ..Default::default()
        }];
    };
    let leader = spawn_live(&emu, rules).await;
    leader.create_group("ops", &[]).await;
    drain(&leader, Duration::from_secs(30)).await;
    assert_eq!(grants(&emu), set(&[("OpsAccess", A), ("OpsAccess", B)]));
    let follower = crate::engine::spawn_live_on(&emu, Some(&leader.db_url), rules).await;
    move_to(&emu, "Production", &[C]).await;
    let r = refresh(&follower).await;
    assert_eq!(r["outcome"], "applied", "{r}");
    drain(&leader, Duration::from_secs(30)).await;
    assert_eq!(
        grants(&emu),
        set(&[("OpsAccess", A), ("OpsAccess", B), ("OpsAccess", C)]),
        "the leader's workers saw the new snapshot"
    );
    follower.stop().await;
    leader.stop().await;
}
