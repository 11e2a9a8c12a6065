//! The audit trail (issue 17): what a SCIM write and the engine's Identity Center calls leave
//! in it, found through the admin API and by the real binary's `cic-bridge audit`, and the hash
//! chain that `cic-bridge audit verify` checks, through an edit, a deletion and a prune.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::engine::{drain, spawn_live};
use crate::helpers::{ADMIN_TOKEN, TOKEN_A, TestApp, spawn_app};
use crate::tencent_harness::{MEMBER_B, SECRET_KEY, create_role_configuration, spawn_emulator};
use cic_bridge::config::AssignmentConfig;
use cic_bridge::emulator::Fault;

const PASSWORD: &str = "Sup3r-Secret-Passw0rd!";

async fn admin_get(app: &TestApp, path: &str) -> Value {
    let r = app
        .client
        .get(format!("{}{path}", app.root))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.json().await.unwrap()
}

/// Seals what is committed (as `GET /admin/audit/verify` does) and lists the records of `query`.
async fn records(app: &TestApp, query: &str) -> Vec<Value> {
    let v = admin_get(app, "/admin/audit/verify").await;
    assert_eq!(v["ok"], true, "{v}");
    let body = admin_get(app, &format!("/admin/audit?{query}&limit=10000")).await;
    body["records"].as_array().cloned().unwrap_or_default()
}

fn actions(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A configuration file for the real binary on the app's database.
fn config_file(app: &TestApp) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        f.path(),
        format!(
            "[database]\nurl = \"{}\"\n[[tenants]]\nname = \"a\"\nzone_id = \"z-abcdefghijkl\"\ntoken_env = \"CIC_BRIDGE_TOKEN_A\"\nmode = \"shadow\"\n",
            app.db_url
        ),
    )
    .unwrap();
    f
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn cli(args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_cic-bridge"))
        .args(args)
        .env("CIC_BRIDGE_TOKEN_A", TOKEN_A)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[tokio::test]
async fn a_membership_leaves_a_trail_from_the_scim_patch_to_the_role_assignment_task() {
    let emu = spawn_emulator(|c| c.settings.task_delay = Duration::from_millis(100)).await;
    let rc = create_role_configuration(&emu.client(), &emu.zone(), "OpsAccess").await;
    let rc_id = rc.role_configuration_id.clone();
    let app = spawn_live(&emu, |c| {
        c.assignments = vec![AssignmentConfig {
            group: Some("Ops".into()),
            role_configuration_id: Some(rc_id.clone()),
            target_uins: vec![MEMBER_B],
            ..Default::default()
        }];
    })
    .await;
    let alice = app
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alice@corp.example",
                   "password": PASSWORD, "name": {"givenName": "Alice", "familyName": "Ops"}}),
        )
        .await;
    assert_eq!(alice.status.as_u16(), 201, "{}", alice.body);
    let alice = alice.id();
    let ops = app.create_group("Ops", &[]).await;
    drain(&app, Duration::from_secs(20)).await;
    // The IdP adds Alice to the group, with its own request id.
    let r = app
        .client
        .patch(format!("{}/Groups/{ops}", app.scim))
        .bearer_auth(&app.token)
        .header("x-request-id", "okta-req-0001")
        .json(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "add", "path": "members", "value": [{"value": alice}]}]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let states = drain(&app, Duration::from_secs(20)).await;
    assert_eq!(states.get("failed"), None);

    // By user name: Alice's own records and those of the group she joined.
    let trail = records(&app, "user=alice@corp.example").await;
    let acts = actions(&trail);
    for want in [
        "user.create",
        "CreateUser",
        "group.create",
        "CreateGroup",
        "CreateRoleAssignment",
        "task.end",
        "group.member.add",
        "AddUserToGroup",
    ] {
        assert!(acts.contains(&want.to_owned()), "{want} missing from {acts:?}");
    }
    let add = trail.iter().find(|r| r["action"] == "group.member.add").unwrap();
    assert_eq!(add["user"], alice.as_str());
    assert_eq!(add["group"], ops.as_str());
    assert_eq!(add["requestId"], "okta-req-0001");
    assert!(add["actor"].as_str().unwrap().starts_with("token sha256:"), "{add}");
    let create = trail.iter().find(|r| r["action"] == "CreateRoleAssignment").unwrap();
    assert_eq!(create["account"], MEMBER_B);
    assert_eq!(create["detail"]["outcome"], "ok");
    assert!(
        create["detail"]["requestId"].as_str().is_some_and(|s| !s.is_empty()),
        "{create}"
    );
    let task = create["detail"]["taskId"].as_str().expect("the call's task").to_owned();
    assert_eq!(create["detail"]["target"]["RoleConfigurationId"], rc_id.as_str());
    let rules = create["detail"]["cause"]["rules"].to_string();
    assert!(rules.contains("assignments[0]"), "the rule by index: {create}");
    let end = trail
        .iter()
        .find(|r| r["action"] == "task.end" && r["detail"]["taskId"] == task.as_str())
        .expect("the task's end");
    assert_eq!(end["detail"]["status"], "Success");
    assert_eq!(end["account"], MEMBER_B);
    let user_create = trail.iter().find(|r| r["action"] == "user.create").unwrap();
    let attrs = user_create["detail"]["attributes"].to_string();
    // Attribute names only (the password is not even stored: cic-bridge never sends one).
    assert!(attrs.contains("userName") && attrs.contains("name"), "{user_create}");

    // By account: the call and its task.
    let on_b = records(&app, &format!("account={MEMBER_B}")).await;
    let acts = actions(&on_b);
    assert!(
        acts.contains(&"CreateRoleAssignment".to_owned()) && acts.contains(&"task.end".to_owned()),
        "{acts:?}"
    );

    // Nothing secret anywhere in the trail: not the password, not the SCIM token, not the
    // Identity Center key.
    let everything = records(&app, "since=2000-01-01").await;
    let text = serde_json::to_string(&everything).unwrap();
    for secret in [PASSWORD, TOKEN_A, SECRET_KEY] {
        assert!(!text.contains(secret), "{secret} leaked into the trail");
    }

    // explain says when Alice joined the group, when the role was assigned, and why: the
    // chain goes from the CreateRoleAssignment back to the IdP's create of the group.
    let explained = admin_get(&app, "/admin/explain?user=alice@corp.example").await;
    let group = &explained["groups"][0];
    assert_eq!(group["memberSince"]["requestId"], "okta-req-0001", "{explained}");
    let history = &group["assignments"][0]["history"];
    assert!(history["assignedAt"].as_str().is_some(), "{explained}");
    assert_eq!(history["call"]["taskId"], task.as_str());
    let causes: Vec<&str> = history["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap_or_default())
        .collect();
    assert!(
        causes.contains(&"group.create"),
        "the chain reaches the SCIM write: {history}"
    );
    let root = history["causes"].as_array().unwrap().last().unwrap();
    assert!(root["actor"].as_str().unwrap().starts_with("token sha256:"), "{root}");
    // The CLI's text says the same.
    let text = cic_bridge::engine::explain::render_user(&explained);
    eprintln!("{text}");
    assert!(
        text.contains("member since") && text.contains("request okta-req-0001"),
        "{text}"
    );
    assert!(
        text.contains("assigned at") && text.contains("because of group.create by token sha256:"),
        "{text}"
    );

    // An operator's action is recorded with who made it and the request's id.
    let r = app
        .client
        .post(format!("{}/admin/jobs/retry-parked", app.root))
        .bearer_auth(ADMIN_TOKEN)
        .header("x-request-id", "ops-ticket-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let retries = records(&app, "action=jobs.retry").await;
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert_eq!(retries[0]["actor"], "admin token");
    assert_eq!(retries[0]["requestId"], "ops-ticket-42");

    // The real binary answers the same questions from the database.
    let cfg = config_file(&app);
    let path = cfg.path().to_str().unwrap();
    let o = cli(&["audit", "--config", path, "--user", "alice@corp.example", "--jsonl"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let lines: Vec<Value> = o.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(actions(&lines), actions(&trail), "the CLI lists what the API lists");
    let o = cli(&["audit", "--config", path, "--account", &MEMBER_B.to_string()]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stdout.contains("CreateRoleAssignment") && o.stdout.contains(&task),
        "{}",
        o.stdout
    );
    let o = cli(&["audit", "verify", "--config", path]);
    assert_eq!(o.code, Some(0), "{} {}", o.stdout, o.stderr);
    assert!(o.stdout.contains("ok: every record matches the chain"), "{}", o.stdout);
}

#[tokio::test]
async fn a_failed_call_is_recorded_with_its_error_code() {
    let emu = spawn_emulator(|_| {}).await;
    let app = spawn_live(&emu, |_| {}).await;
    emu.emulator.inject_fault_on("CreateUser", Fault::InternalError);
    let u = app.create_user("bob@corp.example").await;
    let states = drain(&app, Duration::from_secs(20)).await;
    assert_eq!(states.get("failed"), None);
    let trail = records(&app, &format!("user={u}")).await;
    let calls: Vec<&Value> = trail.iter().filter(|r| r["action"] == "CreateUser").collect();
    assert_eq!(calls.len(), 2, "the refused call and its retry: {trail:?}");
    assert_eq!(calls[0]["detail"]["outcome"], "error");
    assert_eq!(calls[0]["detail"]["errorCode"], "InternalError");
    assert!(calls[0]["detail"]["requestId"].as_str().is_some(), "{}", calls[0]);
    assert_eq!(calls[1]["detail"]["outcome"], "ok");
    assert_eq!(calls[1]["detail"]["target"]["UserName"], "bob@corp.example");
}

#[tokio::test]
async fn an_edited_or_deleted_row_breaks_verify_and_a_prune_does_not() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.create_user(&format!("user{i}@corp.example")).await;
    }
    let cfg = config_file(&app);
    let path = cfg.path().to_str().unwrap();
    let o = cli(&["audit", "verify", "--config", path]);
    assert_eq!(o.code, Some(0), "{} {}", o.stdout, o.stderr);

    // One row edited by hand: verify fails and names it.
    let seq = crate::db::count(&app.db_url, "SELECT min(seq) + 2 FROM audit_log").await;
    crate::db::execute(
        &app.db_url,
        "UPDATE audit_log SET actor = 'someone else' WHERE seq = (SELECT min(seq) + 2 FROM audit_log)",
    )
    .await;
    let o = cli(&["audit", "verify", "--config", path]);
    assert_eq!(o.code, Some(1), "{} {}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains(&format!("row seq {seq} ")) && o.stderr.contains("edited"),
        "{}",
        o.stderr
    );
    let v = admin_get(&app, "/admin/audit/verify").await;
    assert_eq!(v["ok"], false, "{v}");

    // Pruning everything recorded so far (the edited row with it) leaves a chain that holds,
    // and that goes on from the pruned hash.
    let store = cic_bridge::store::Store::connect(&app.db_url, 2, false).await.unwrap();
    let through = store
        .audit_prune(time::OffsetDateTime::now_utc() + time::Duration::seconds(1))
        .await
        .unwrap()
        .expect("pruned");
    assert!(through >= 5, "{through}");
    app.create_user("after-prune@corp.example").await;
    let o = cli(&["audit", "verify", "--config", path]);
    assert_eq!(o.code, Some(0), "{} {}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains(&format!("positions {} to", through + 1)),
        "{}",
        o.stdout
    );
    let prunes = records(&app, "action=audit.prune").await;
    assert_eq!(prunes.len(), 1, "the prune is recorded: {prunes:?}");
    assert_eq!(prunes[0]["detail"]["throughPosition"], through);

    // The newest row deleted: verify fails.
    crate::db::execute(
        &app.db_url,
        "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)",
    )
    .await;
    let o = cli(&["audit", "verify", "--config", path]);
    assert_eq!(o.code, Some(1), "{} {}", o.stdout, o.stderr);
    assert!(o.stderr.contains("missing"), "{}", o.stderr);
    store.close().await;
}

#[tokio::test]
async fn two_replicas_write_while_verify_runs_and_every_record_is_sealed_once_in_one_chain() {
    // On PostgreSQL (one SQLite file serves one process): the replicas' writes commit in any
    // order, the leader seals them, and verifications (each sealing too) run meanwhile.
    if !crate::db::is_postgres() {
        eprintln!("skipped on SQLite: one SQLite file serves one process (set TEST_DATABASE_URL)");
        return;
    }
    let a = spawn_app().await;
    let b = crate::helpers::spawn_replica(&a.db_url, |_| {}, None).await;
    let writes = async {
        for round in 0..8 {
            let creates = (0..20).map(|i| {
                let app = if i % 2 == 0 { &a } else { &b };
                async move {
                    let r = app
                        .post("/Users", json!({"userName": format!("c{round}-{i}@corp.example")}))
                        .await;
                    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
                }
            });
            futures_util::future::join_all(creates).await;
        }
    };
    let verifies = async {
        let mut runs = 0;
        for _ in 0..12 {
            for app in [&a, &b] {
                let v = admin_get(app, "/admin/audit/verify").await;
                assert_eq!(v["ok"], true, "a verification during the writes: {v}");
                runs += 1;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        runs
    };
    let ((), runs) = tokio::join!(writes, verifies);
    assert_eq!(runs, 24);
    let v = admin_get(&b, "/admin/audit/verify").await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["unsealed"], 0, "{v}");
    // 160 creates, each recorded once, in one chain of contiguous positions.
    assert_eq!(v["checked"], 160, "{v}");
    assert_eq!(v["headPosition"], 160, "{v}");
    let positions = crate::db::count(&a.db_url, "SELECT count(DISTINCT pos) FROM audit_log").await;
    assert_eq!(positions, 160);
}
