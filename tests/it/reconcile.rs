//! Reconciliation and explain, end to end: drift is made behind the bridge's back with a
//! client of its own against the emulator; the plan must name it, and `apply` must repair it
//! through the outbox. The CLI runs as the real binary on the same database.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::engine::{drain, memberships, spawn_live};
use crate::helpers::{ADMIN_TOKEN, TestApp};
use crate::tencent_harness::{
    MEMBER_A, MEMBER_B, SECRET_ID, SECRET_KEY, TestEmulator, create_role_configuration, spawn_emulator,
};
use cic_bridge::config::AssignmentConfig;
use cic_bridge::tencent::model::{
    CreateUser, DeleteRoleAssignment, DeleteUser, PrincipalType, RemoveUserFromGroup, TargetType, UpdateGroup,
    UpdateUser,
};

async fn admin(app: &TestApp, method: Method, path: &str) -> (StatusCode, Value) {
    let r = app
        .client
        .request(method, format!("{}{path}", app.root))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn kinds(plan: &Value) -> Vec<String> {
    let mut v: Vec<String> = plan["plans"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn user_id(emu: &TestEmulator, name: &str) -> String {
    let s = emu.emulator.snapshot();
    s.users.iter().find(|u| u.user_name == name).unwrap().user_id.clone()
}

fn group_id(emu: &TestEmulator, name: &str) -> String {
    let s = emu.emulator.snapshot();
    s.groups.iter().find(|g| g.group_name == name).unwrap().group_id.clone()
}

/// A configuration file for the binary: the test app's database and the emulator.
fn config_file(app: &TestApp, emu: &TestEmulator, rc: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        f.path(),
        format!(
            "[database]\nurl = \"{}\"\n[cic]\nendpoint = \"{}\"\n[[tenants]]\nname = \"a\"\nzone_id = \"{}\"\ntoken_env = \"UNUSED_A\"\n\
             [[assignments]]\ngroup = \"admins\"\nrole_configuration_id = \"{rc}\"\ntarget_uins = [{MEMBER_A}]\n",
            app.db_url,
            emu.url,
            emu.zone()
        ),
    )
    .unwrap();
    f
}

fn run_cli(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cic-bridge"))
        .args(args)
        .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn drift_made_behind_the_bridges_back_is_planned_and_repaired() {
    let emu = spawn_emulator(|_| {}).await;
    let rc = create_role_configuration(&emu.client(), &emu.zone(), "Admin").await;
    let rc_id = rc.role_configuration_id.clone();
    let rule_rc = rc_id.clone();
    let app = spawn_live(&emu, move |c| {
        c.engine.reconcile_interval_secs = 1;
        c.assignments = vec![AssignmentConfig {
            group: Some("admins".into()),
            role_configuration_id: Some(rule_rc),
            target_uins: vec![MEMBER_A],
            ..Default::default()
        }];
    })
    .await;
    let ada = app.create_user("ada@corp.example").await;
    let bob = app.create_user("bob@corp.example").await;
    let cat = app.create_user("cat@corp.example").await;
    app.create_group("admins", &[&ada, &bob]).await;
    app.create_group("ops", &[&cat]).await;
    drain(&app, Duration::from_secs(20)).await;
    let (_, plan) = admin(&app, Method::POST, "/admin/reconcile?tenant=a").await;
    assert_eq!(plan["drift"], 0, "in sync after provisioning: {plan}");
    let before = emu.emulator.snapshot();

    // Drift behind the bridge's back.
    let c = emu.client();
    let zone = emu.zone();
    let (ada_c, cat_c) = (user_id(&emu, "ada@corp.example"), user_id(&emu, "cat@corp.example"));
    let (admins_c, ops_c) = (group_id(&emu, "admins"), group_id(&emu, "ops"));
    c.call(&UpdateUser {
        zone_id: zone.clone(),
        user_id: ada_c.clone(),
        new_display_name: Some("Somebody Else".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    c.call(&RemoveUserFromGroup {
        zone_id: zone.clone(),
        group_id: admins_c.clone(),
        user_id: ada_c.clone(),
    })
    .await
    .unwrap();
    c.call(&RemoveUserFromGroup {
        zone_id: zone.clone(),
        group_id: ops_c.clone(),
        user_id: cat_c.clone(),
    })
    .await
    .unwrap();
    c.call(&DeleteUser {
        zone_id: zone.clone(),
        user_id: cat_c.clone(),
    })
    .await
    .unwrap();
    c.call(&UpdateGroup {
        zone_id: zone.clone(),
        group_id: ops_c.clone(),
        new_group_name: Some("renamed-by-hand".into()),
        new_description: None,
    })
    .await
    .unwrap();
    // A user with our marker that the store does not have, and one made by hand.
    c.call(&CreateUser {
        zone_id: zone.clone(),
        user_name: "ghost".into(),
        description: Some("[cic-bridge a/0000-ghost]".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let hand = c
        .call(&CreateUser {
            zone_id: zone.clone(),
            user_name: "by-hand".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .user_info
        .user_id;
    c.call(&cic_bridge::tencent::model::AddUserToGroup {
        zone_id: zone.clone(),
        group_id: admins_c.clone(),
        user_id: hand,
    })
    .await
    .unwrap();
    let task = c
        .call(&DeleteRoleAssignment {
            zone_id: zone.clone(),
            role_configuration_id: rc_id.clone(),
            target_type: TargetType::MemberUin,
            target_uin: MEMBER_A,
            principal_type: PrincipalType::Group,
            principal_id: admins_c.clone(),
            deprovision_strategy: None,
        })
        .await
        .unwrap();
    let _ = task;
    tokio::time::sleep(Duration::from_millis(200)).await; // the emulator's task ends

    // The plan names every kind of drift.
    let (status, plan) = admin(&app, Method::POST, "/admin/reconcile?tenant=a").await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    let k = kinds(&plan);
    for want in [
        "user_differs",
        "user_missing",
        "user_extra",
        "group_differs",
        "member_missing",
        "assignment_missing",
        "unmanaged",
    ] {
        assert!(k.contains(&want.to_string()), "{want} in {k:?}\n{plan:#}");
    }
    let items = plan["plans"][0]["items"].as_array().unwrap();
    let differs = items.iter().find(|i| i["kind"] == "user_differs").unwrap();
    assert!(
        differs["detail"].as_str().unwrap().contains("Somebody Else"),
        "{differs}"
    );
    assert!(
        items
            .iter()
            .any(|i| i["kind"] == "unmanaged" && i["detail"].as_str().unwrap().contains("by-hand")),
        "the hand-made user is reported as unmanaged"
    );
    // Without apply nothing was queued.
    assert_eq!(plan["applied"], false);

    // The CLI prints the same plan, readable.
    let cfg = config_file(&app, &emu, &rc_id);
    let path = cfg.path().to_str().unwrap().to_owned();
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || run_cli(&["reconcile", "--config", &path, "--tenant", "a"]))
            .await
            .unwrap();
    assert!(ok, "{err}");
    assert!(
        out.contains("user_differs") && out.contains("fix: queue user.sync"),
        "{out}"
    );
    assert!(out.contains("run with --apply"), "{out}");

    // The periodic run (every second here) reports the drift in the status.
    let mut seen = Value::Null;
    for _ in 0..100 {
        let (_, s) = admin(&app, Method::GET, "/admin/status").await;
        if s["drift"]["tenants"]["a"]["user_differs"].as_u64().unwrap_or(0) >= 1 {
            seen = s["drift"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen["tenants"]["a"]["assignment_missing"].as_u64().unwrap_or(0) >= 1,
        "{seen}"
    );
    // …and on the status page and in the metrics.
    let page = app
        .client
        .get(format!("{}/admin", app.root))
        .basic_auth("ops", Some(crate::helpers::ADMIN_TOKEN))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let drift_table = &page[page.find("<table id=\"drift\">").expect("drift table on the page")..];
    assert!(drift_table.contains("user_differs"), "{drift_table}");
    let metrics = app
        .client
        .get(format!("{}/metrics", app.root))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
    };
    assert!(series("cic_bridge_drift{tenant=\"a\",kind=\"user_differs\"}") >= 1.0);
    assert!(series("cic_bridge_drift_items{tenant=\"a\"}") >= 2.0);

    // Apply, let the engine work, and Identity Center matches again.
    let (status, applied) = admin(&app, Method::POST, "/admin/reconcile?tenant=a&apply=true").await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert!(applied["plans"][0]["queued"].as_u64().unwrap() >= 6, "{applied}");
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None, "{states:?}");
    let after = emu.emulator.snapshot();
    let ada_after = after.users.iter().find(|u| u.user_name == "ada@corp.example").unwrap();
    let ada_before = before.users.iter().find(|u| u.user_name == "ada@corp.example").unwrap();
    assert_eq!(ada_after.display_name, ada_before.display_name);
    assert!(
        after.users.iter().all(|u| u.user_name != "ghost"),
        "the marked leftover was deleted"
    );
    assert!(
        after.users.iter().any(|u| u.user_name == "by-hand"),
        "unmanaged users stay"
    );
    let m = memberships(&after);
    assert!(m["admins"].contains("ada@corp.example"));
    assert!(m["admins"].contains("by-hand"), "unmanaged members stay");
    assert!(
        m["ops"].contains("cat@corp.example"),
        "cat recreated with her membership: {m:?}"
    );
    assert!(!m.contains_key("renamed-by-hand"));
    assert!(
        after
            .assignments
            .iter()
            .any(|a| a.role_configuration_id == rc_id && a.target_uin == MEMBER_A),
        "the assignment is back"
    );
    let (_, plan) = admin(&app, Method::POST, "/admin/reconcile?tenant=a").await;
    assert_eq!(plan["drift"], 0, "only unmanaged objects remain: {plan:#}");
    app.stop().await;
}

#[tokio::test]
async fn explain_shows_the_chain_from_user_to_role_and_the_account_view() {
    let emu = spawn_emulator(|_| {}).await;
    let rc = create_role_configuration(&emu.client(), &emu.zone(), "Admin").await;
    let rc_id = rc.role_configuration_id.clone();
    let rule_rc = rc_id.clone();
    let app = spawn_live(&emu, move |c| {
        c.assignments = vec![
            AssignmentConfig {
                group: Some("admins".into()),
                role_configuration_id: Some(rule_rc),
                target_uins: vec![MEMBER_A],
                ..Default::default()
            },
            AssignmentConfig {
                group_pattern: Some("adm.*".into()),
                role_configuration: Some("Admin".into()),
                target_uins: vec![MEMBER_B],
                ..Default::default()
            },
        ];
    })
    .await;
    let ada = app.create_user("ada@corp.example").await;
    app.create_group("admins", &[&ada]).await;
    app.create_group("readers", &[&ada]).await;
    drain(&app, Duration::from_secs(20)).await;

    let (status, v) = admin(&app, Method::GET, "/admin/explain?user=ADA@corp.example").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["user"]["id"], ada.as_str());
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    let admins = groups.iter().find(|g| g["displayName"] == "admins").unwrap();
    assert!(
        admins["rules"][0]["rule"]
            .as_str()
            .unwrap()
            .starts_with("assignments[0]"),
        "{admins}"
    );
    assert_eq!(admins["assignments"].as_array().unwrap().len(), 2, "{admins}");
    let a = &admins["assignments"][0];
    assert_eq!(
        a["rules"],
        serde_json::json!(["assignments[0]: group = \"admins\""]),
        "{a}"
    );
    assert_eq!(
        admins["assignments"][1]["rules"],
        serde_json::json!(["assignments[1]: group_pattern = \"adm.*\""]),
        "each assignment names the rule that gives it"
    );
    assert_eq!(admins["assignments"][1]["account"], MEMBER_B);
    assert_eq!(a["roleConfigurationId"], rc_id.as_str());
    assert_eq!(a["roleConfigurationName"], "Admin");
    assert_eq!(a["account"], MEMBER_A);
    assert!(a["assigned"].as_str().unwrap().starts_with("yes"), "{a}");
    assert_eq!(a["tasks"][0]["status"], "Success", "{a}");
    assert!(!a["deployment"].as_str().unwrap().is_empty());
    let readers = groups.iter().find(|g| g["displayName"] == "readers").unwrap();
    assert!(readers["assignments"].as_array().unwrap().is_empty());

    let (_, acct) = admin(&app, Method::GET, &format!("/admin/explain?account={MEMBER_A}")).await;
    let grant = &acct["tenants"][0]["roles"][0]["grants"][0];
    assert_eq!(acct["tenants"][0]["roles"][0]["roleConfigurationId"], rc_id.as_str());
    assert_eq!(grant["group"]["displayName"], "admins");
    assert_eq!(grant["users"][0], "ada@corp.example");
    let (status, _) = admin(&app, Method::GET, "/admin/explain?user=nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin(&app, Method::GET, "/admin/explain").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The CLI: readable text.
    let cfg = config_file(&app, &emu, &rc_id);
    let path = cfg.path().to_str().unwrap().to_owned();
    let p2 = path.clone();
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || run_cli(&["explain", "--config", &p2, "ada@corp.example"]))
            .await
            .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("group \"admins\""), "{out}");
    assert!(out.contains("rule assignments[0]: group = \"admins\""), "{out}");
    assert!(
        out.contains(&format!("role {rc_id} (Admin) on account {MEMBER_A}")),
        "{out}"
    );
    assert!(out.contains("Success"), "{out}");
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        run_cli(&["explain", "--config", &path, "--account", &MEMBER_A.to_string()])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(
        out.contains("via group \"admins\"") && out.contains("ada@corp.example"),
        "{out}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_group_deleted_by_hand_comes_back_with_its_members_and_assignments() {
    let emu = spawn_emulator(|_| {}).await;
    let rc = create_role_configuration(&emu.client(), &emu.zone(), "Admin").await;
    let rc_id = rc.role_configuration_id.clone();
    let rule_rc = rc_id.clone();
    let app = spawn_live(&emu, move |c| {
        c.assignments = vec![AssignmentConfig {
            group: Some("admins".into()),
            role_configuration_id: Some(rule_rc),
            target_uins: vec![MEMBER_A],
            ..Default::default()
        }];
    })
    .await;
    let ada = app.create_user("ada@corp.example").await;
    app.create_group("admins", &[&ada]).await;
    drain(&app, Duration::from_secs(20)).await;
    let c = emu.client();
    let zone = emu.zone();
    let (ada_c, admins_c) = (user_id(&emu, "ada@corp.example"), group_id(&emu, "admins"));
    c.call(&RemoveUserFromGroup {
        zone_id: zone.clone(),
        group_id: admins_c.clone(),
        user_id: ada_c,
    })
    .await
    .unwrap();
    c.call(&DeleteRoleAssignment {
        zone_id: zone.clone(),
        role_configuration_id: rc_id.clone(),
        target_type: TargetType::MemberUin,
        target_uin: MEMBER_A,
        principal_type: PrincipalType::Group,
        principal_id: admins_c.clone(),
        deprovision_strategy: None,
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.call(&cic_bridge::tencent::model::DeleteGroup {
        zone_id: zone.clone(),
        group_id: admins_c.clone(),
    })
    .await
    .unwrap();

    // This time through the CLI: it queues the fixes in the database and the running daemon
    // carries them out.
    let cfg = config_file(&app, &emu, &rc_id);
    let path = cfg.path().to_str().unwrap().to_owned();
    let (ok, out, err) = tokio::task::spawn_blocking(move || run_cli(&["reconcile", "--config", &path, "--apply"]))
        .await
        .unwrap();
    assert!(ok, "{err}");
    assert!(
        out.contains("group_missing") && out.contains("operation(s) queued"),
        "{out}"
    );
    drain(&app, Duration::from_secs(30)).await;
    let after = emu.emulator.snapshot();
    let new_id = group_id(&emu, "admins");
    assert_ne!(new_id, admins_c, "created again");
    assert!(memberships(&after)["admins"].contains("ada@corp.example"));
    assert!(
        after
            .assignments
            .iter()
            .any(|a| a.principal_id == new_id && a.role_configuration_id == rc_id && a.target_uin == MEMBER_A),
        "the rule's assignment was made for the new group"
    );
    let (_, plan) = admin(&app, Method::POST, "/admin/reconcile").await;
    assert_eq!(plan["drift"], 0, "{plan:#}");
    app.stop().await;
}

#[tokio::test]
async fn reconcile_and_explain_need_the_admin_token_and_skip_shadow_tenants() {
    let app = crate::helpers::spawn_app().await;
    for (m, path) in [
        (Method::POST, "/admin/reconcile"),
        (Method::POST, "/admin/reconcile?apply=true"),
        (Method::GET, "/admin/explain?user=x"),
        (Method::GET, "/admin/explain?account=100000000001"),
    ] {
        for token in [None, Some(crate::helpers::TOKEN_A)] {
            let mut req = app.client.request(m.clone(), format!("{}{path}", app.root));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{m} {path} with {token:?}");
        }
    }
    // Both test tenants are shadow: nothing was sent, so nothing is compared.
    let (status, plan) = admin(&app, Method::POST, "/admin/reconcile").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        plan["plans"][0]["skipped"].as_str().unwrap().contains("shadow"),
        "{plan}"
    );
    let (status, _) = admin(&app, Method::POST, "/admin/reconcile?tenant=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, s) = admin(&app, Method::GET, "/admin/status").await;
    assert!(s["drift"].is_null(), "no periodic run configured: {s}");
    app.stop().await;
}
