//! `deploy/cam-policy.json`, the CAM policy README tells operators to grant the bridge's key,
//! must allow every action the bridge calls: a full lifecycle (users, groups, memberships,
//! updates, deactivation, a rule's role assignments, a deployment, deletions) runs against the
//! emulator, and every action it called must be in the policy. A missing action would be
//! `AuthFailure.UnauthorizedOperation` in production, on the first day that path runs.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::engine::{drain, spawn_live};
use crate::tencent_harness::{MEMBER_A, MEMBER_B, create_role_configuration, spawn_emulator};
use cic_bridge::config::AssignmentConfig;

const POLICY: &str = include_str!("../../deploy/cam-policy.json");
/// The text of every file of the client's model (where `action!(Name => Response)` defines
/// each action), read from its folder so that a new file is not missed.
fn model_sources() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tencent/model");
    std::fs::read_dir(&dir)
        .expect("src/tencent/model")
        .map(|e| std::fs::read_to_string(e.expect("a model file").path()).expect("a readable model file"))
        .collect()
}

fn policy_actions() -> BTreeSet<String> {
    let policy: Value = serde_json::from_str(POLICY).expect("deploy/cam-policy.json is JSON");
    assert_eq!(policy["version"], "2.0");
    let statements = policy["statement"].as_array().expect("statement list");
    let mut actions = BTreeSet::new();
    for s in statements {
        assert_eq!(s["effect"], "allow");
        assert_eq!(s["resource"], json!(["*"]));
        for a in s["action"].as_array().expect("action list") {
            let a = a.as_str().expect("action is a string");
            let name = a
                .strip_prefix("organization:")
                .unwrap_or_else(|| panic!("{a}: not an organization action"));
            actions.insert(name.to_string());
        }
    }
    actions
}

#[test]
fn the_policy_names_only_actions_the_client_knows() {
    let model = model_sources();
    for a in policy_actions() {
        assert!(
            model.iter().any(|m| m.contains(&format!("action!({a} =>"))),
            "deploy/cam-policy.json allows {a}, which the client does not define (a typo grants nothing)"
        );
    }
}

#[tokio::test]
async fn every_action_of_a_full_lifecycle_is_in_the_policy() {
    let emu = spawn_emulator(|c| c.settings.task_delay = Duration::from_millis(100)).await;
    let rc = create_role_configuration(&emu.client(), &emu.zone(), "Admin").await;
    let before = emu.emulator.stats().calls;
    let rc_id = rc.role_configuration_id.clone();
    let app = spawn_live(&emu, |c| {
        c.assignments = vec![AssignmentConfig {
            group: Some("Cloud Admins".into()),
            role_configuration_id: Some(rc_id.clone()),
            target_uins: vec![MEMBER_A, MEMBER_B],
            ..Default::default()
        }];
    })
    .await;

    let ada = app.create_user("ada@corp.example").await;
    let bob = app.create_user("bob@corp.example").await;
    let g = app.create_group("Cloud Admins", &[&ada, &bob]).await;
    app.patch(
        &format!("/Users/{ada}"),
        json!([{"op": "replace", "path": "name.familyName", "value": "Lovelace"}]),
    )
    .await;
    app.patch(
        &format!("/Users/{bob}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    app.patch(
        &format!("/Groups/{g}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]),
    )
    .await;
    let r = app
        .client
        .post(format!("{}/admin/provision", app.root))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .json(&json!({"roleConfigurationId": rc.role_configuration_id, "tenant": "a", "allAccounts": true}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    drain(&app, Duration::from_secs(30)).await;
    app.delete(&format!("/Groups/{g}")).await;
    app.delete(&format!("/Users/{ada}")).await;
    app.delete(&format!("/Users/{bob}")).await;
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None, "the lifecycle ran cleanly: {states:?}");
    let s = emu.emulator.snapshot();
    assert!(s.users.is_empty() && s.groups.is_empty(), "everything deleted again");
    assert!(!s.deployments.is_empty(), "the deployment ran");

    let after = emu.emulator.stats().calls;
    let called: BTreeSet<String> = after
        .iter()
        .filter(|(action, n)| **n > before.get(*action).copied().unwrap_or(0))
        .map(|(action, _)| action.clone())
        .collect();
    for must in [
        "CreateUser",
        "UpdateUserStatus",
        "AddUserToGroup",
        "RemoveUserFromGroup",
        "CreateRoleAssignment",
        "ProvisionRoleConfiguration",
        "DeleteUser",
    ] {
        assert!(called.contains(must), "the lifecycle exercised {must}: {called:?}");
    }
    let allowed = policy_actions();
    let missing: Vec<&String> = called.difference(&allowed).collect();
    assert!(
        missing.is_empty(),
        "deploy/cam-policy.json lacks actions the bridge called: {missing:?}"
    );
}
