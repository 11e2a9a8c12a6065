//! The provisioning engine end to end: the daemon (SCIM over loopback, SQLite) drains its
//! outbox into the emulator over loopback; the emulator's snapshot is the truth checked.

use cic_bridge::store::Origin;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_with_secrets};
use crate::tencent_harness::{SECRET_ID, SECRET_KEY, TestEmulator, create_user, spawn_emulator};
use cic_bridge::config::{Config, OnConflict, OnUsernameChange, TenantMode};
use cic_bridge::emulator::{EmulatorConfig, Fault, Snapshot};
use cic_bridge::tencent::Credentials;
use cic_bridge::tencent::model::UserStatus;

/// Tenant `a` live against `emu` (its zone), tenant `b` shadow; fast retries for tests.
pub async fn spawn_live(emu: &TestEmulator, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_live_on(emu, None, tweak).await
}

/// [`spawn_live`] on the database of a running app (another replica) when `db_url` is given.
pub async fn spawn_live_on(emu: &TestEmulator, db_url: Option<&str>, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let url = emu.url.clone();
    let zone = emu.zone();
    let live = move |c: &mut Config| {
        c.cic.endpoint = url;
        c.cic.request_timeout_secs = 2;
        c.cic.connect_timeout_secs = 1;
        c.engine.retry_base_ms = 20;
        c.engine.retry_cap_secs = 1;
        c.engine.max_attempts = 40;
        c.engine.create_wait_ms = 3000;
        c.tenants[0].zone_id = zone;
        c.tenants[0].mode = TenantMode::Live;
        tweak(c);
    };
    let cic = Some(Credentials::new(SECRET_ID, SECRET_KEY));
    match db_url {
        Some(db) => crate::helpers::spawn_replica(db, live, cic).await,
        None => spawn_with_secrets(live, cic).await,
    }
}

/// Operations of tenant `a` by state.
pub async fn op_states(app: &TestApp) -> BTreeMap<String, i64> {
    crate::db::pairs(
        &app.db_url,
        "SELECT state, count(*) FROM operations WHERE tenant = 'a' GROUP BY state",
    )
    .await
    .into_iter()
    .collect()
}

/// Waits until tenant `a` has nothing pending or running (bounded).
pub async fn drain(app: &TestApp, limit: Duration) -> BTreeMap<String, i64> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let states = op_states(app).await;
        let busy = states.get("pending").copied().unwrap_or(0) + states.get("running").copied().unwrap_or(0);
        if busy == 0 {
            return states;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox did not drain: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Group name → sorted user names, from the emulator.
pub fn memberships(s: &Snapshot) -> BTreeMap<String, BTreeSet<String>> {
    let users: BTreeMap<&str, &str> = s
        .users
        .iter()
        .map(|u| (u.user_id.as_str(), u.user_name.as_str()))
        .collect();
    let groups: BTreeMap<&str, &str> = s
        .groups
        .iter()
        .map(|g| (g.group_id.as_str(), g.group_name.as_str()))
        .collect();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for g in groups.values() {
        out.entry((*g).to_owned()).or_default();
    }
    for (g, u) in &s.memberships {
        out.entry(groups[g.as_str()].to_owned())
            .or_default()
            .insert(users[u.as_str()].to_owned());
    }
    out
}

fn user_body(name: &str, given: &str, family: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "displayName": format!("{given} {family}"),
        "name": {"givenName": given, "familyName": family},
        "emails": [{"value": format!("{}@mail.example.com", name.replace('@', ".")), "type": "work", "primary": true}],
        "active": true
    })
}

#[tokio::test]
async fn users_groups_and_memberships_reach_identity_center() {
    let emu = spawn_emulator(|_| {}).await;
    let app = spawn_live(&emu, |_| {}).await;
    let ada = app
        .post("/Users", user_body("ada@corp.example", "Ada", "Lovelace"))
        .await;
    assert_eq!(ada.status, StatusCode::CREATED, "{}", ada.body);
    let ada = ada.id();
    let bob = app.create_user("bob@corp.example").await;
    let eve = app.create_user("eve@corp.example").await;
    // The create waited for Identity Center: Ada is there with every field mapped.
    let s = emu.emulator.snapshot();
    let u = s
        .users
        .iter()
        .find(|u| u.user_name == "ada@corp.example")
        .expect("ada provisioned");
    assert_eq!((u.first_name.as_str(), u.last_name.as_str()), ("Ada", "Lovelace"));
    assert_eq!(u.display_name, "Ada Lovelace");
    assert_eq!(u.email, "ada.corp.example@mail.example.com");
    assert_eq!(u.user_status, UserStatus::Enabled);
    assert!(
        u.description.contains(&ada),
        "marker with the SCIM id: {}",
        u.description
    );

    let g = app.create_group("Cloud Admins", &[&ada, &bob]).await;
    app.patch(
        &format!("/Groups/{g}"),
        json!([{"op": "add", "path": "members", "value": [{"value": eve}]}]),
    )
    .await;
    app.patch(
        &format!("/Groups/{g}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]),
    )
    .await;
    drain(&app, Duration::from_secs(20)).await;
    let s = emu.emulator.snapshot();
    let group = s
        .groups
        .iter()
        .find(|g| g.group_name.starts_with("Cloud-Admins-"))
        .expect("transformed name");
    assert!(
        group.description.contains("\"Cloud Admins\""),
        "original name kept: {}",
        group.description
    );
    let m = memberships(&s);
    assert_eq!(
        m[&group.group_name],
        BTreeSet::from(["ada@corp.example".to_owned(), "eve@corp.example".to_owned()])
    );

    // Rename, deactivate, update, delete.
    app.patch(
        &format!("/Groups/{g}"),
        json!([{"op": "replace", "path": "displayName", "value": "platform-admins"}]),
    )
    .await;
    app.patch(
        &format!("/Users/{eve}"),
        json!([{"op": "replace", "path": "active", "value": "False"}]),
    )
    .await;
    app.patch(
        &format!("/Users/{ada}"),
        json!([{"op": "replace", "path": "name.givenName", "value": "Augusta"}]),
    )
    .await;
    assert_eq!(
        app.delete(&format!("/Users/{bob}")).await.status,
        StatusCode::NO_CONTENT
    );
    let states = drain(&app, Duration::from_secs(20)).await;
    assert_eq!(states.get("failed"), None, "{states:?}");
    let s = emu.emulator.snapshot();
    assert!(s.groups.iter().any(|g| g.group_name == "platform-admins"));
    let by_name: BTreeMap<&str, _> = s.users.iter().map(|u| (u.user_name.as_str(), u)).collect();
    assert_eq!(by_name["eve@corp.example"].user_status, UserStatus::Disabled);
    assert_eq!(by_name["ada@corp.example"].first_name, "Augusta");
    assert!(!by_name.contains_key("bob@corp.example"), "deleted in Identity Center");

    // Deleting the group removes its members first, then the group.
    assert_eq!(app.delete(&format!("/Groups/{g}")).await.status, StatusCode::NO_CONTENT);
    drain(&app, Duration::from_secs(20)).await;
    let s = emu.emulator.snapshot();
    assert!(s.groups.is_empty() && s.memberships.is_empty(), "{s:?}");
    assert_eq!(s.users.len(), 2);
}

#[tokio::test]
async fn conflicts_follow_on_conflict() {
    let emu = spawn_emulator(|_| {}).await;
    let client = emu.client();
    create_user(&client, &emu.zone(), "taken").await;

    // reject: 409 uniqueness, nothing kept, no retry loop.
    let app = spawn_live(&emu, |_| {}).await;
    let before = emu.emulator.stats().calls("CreateUser");
    let r = app.post("/Users", json!({"userName": "taken"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["scimType"], "uniqueness");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("UsernameAlreadyExists"),
        "{}",
        r.body
    );
    let found = app.get("/Users?filter=userName%20eq%20%22taken%22").await;
    assert_eq!(found.body["totalResults"], 0, "the refused create is not kept");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        emu.emulator.stats().calls("CreateUser") - before,
        1,
        "one attempt, no retry loop"
    );
    drop(app);

    // adopt: linked, updated, not duplicated.
    let app = spawn_live(&emu, |c| c.tenants[0].on_conflict = OnConflict::Adopt).await;
    let r = app.post("/Users", user_body("taken", "Tak", "En")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    drain(&app, Duration::from_secs(10)).await;
    let s = emu.emulator.snapshot();
    let taken: Vec<_> = s.users.iter().filter(|u| u.user_name == "taken").collect();
    assert_eq!(taken.len(), 1, "adopted, not duplicated");
    assert_eq!(taken[0].first_name, "Tak", "the adopted user is updated");

    // Groups the same way, and an email conflict is a clear 409.
    crate::tencent_harness::create_group(&client, &emu.zone(), "existing").await;
    let g = app.post("/Groups", json!({"displayName": "existing"})).await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.body);
    drain(&app, Duration::from_secs(10)).await;
    assert_eq!(emu.emulator.snapshot().groups.len(), 1);
    let r = app
        .post(
            "/Users",
            json!({"userName": "other", "emails": [{"value": "taken@mail.example.com", "primary": true}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap_or_default().contains("email"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn full_quota_answers_429_and_parked_operations_resume() {
    let emu = spawn_emulator(|c| c.settings.user_limit = 2).await;
    let app = spawn_live(&emu, |_| {}).await;
    let first = app.create_user("q1@corp.example").await;
    app.create_user("q2@corp.example").await;
    let r = app.post("/Users", json!({"userName": "q3@corp.example"})).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.get("retry-after").is_some());
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("UserOverUpperLimit") && detail.contains(&emu.zone()),
        "{detail}"
    );
    let found = app.get("/Users?filter=userName%20eq%20%22q3@corp.example%22").await;
    assert_eq!(found.body["totalResults"], 0, "the IdP retries a fresh create");
    drop(app);

    // Past the wait deadline the create stays queued: parked, with an alarm, no retry storm.
    let app = spawn_live(&emu, |c| c.engine.create_wait_ms = 0).await;
    let r = app.post("/Users", json!({"userName": "q4@corp.example"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let states = drain(&app, Duration::from_secs(10)).await;
    assert_eq!(states.get("parked"), Some(&1), "{states:?}");
    let calls = emu.emulator.stats().calls("CreateUser");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        emu.emulator.stats().calls("CreateUser"),
        calls,
        "a parked operation is not retried blindly"
    );
    let alarms = crate::db::strings(&app.db_url, "SELECT code FROM alarms WHERE cleared_at IS NULL").await;
    assert_eq!(alarms, vec!["quota:FailedOperation.UserOverUpperLimit".to_owned()]);

    // Capacity returns (a user is deleted through another path), an admin retries: it lands.
    let first_cic = emu
        .emulator
        .snapshot()
        .users
        .iter()
        .find(|u| u.user_name == "q1@corp.example")
        .unwrap()
        .user_id
        .clone();
    let client = emu.client();
    client
        .call(&cic_bridge::tencent::model::DeleteUser {
            zone_id: emu.zone(),
            user_id: first_cic,
        })
        .await
        .unwrap();
    let n = crate::db::execute(
        &app.db_url,
        "UPDATE operations SET state = 'pending', next_attempt_at = '2000-01-01T00:00:00.000000Z' WHERE state = 'parked'",
    )
    .await;
    assert_eq!(n, 1);
    drain(&app, Duration::from_secs(10)).await;
    assert!(
        emu.emulator
            .snapshot()
            .users
            .iter()
            .any(|u| u.user_name == "q4@corp.example")
    );
    let alarms = crate::db::strings(&app.db_url, "SELECT code FROM alarms WHERE cleared_at IS NULL").await;
    assert!(alarms.is_empty(), "the alarm clears when capacity is back: {alarms:?}");
    let _ = first;
}

#[tokio::test]
async fn user_names_outside_the_identity_center_rule_and_rename_policies() {
    let emu = spawn_emulator(|_| {}).await;
    let app = spawn_live(&emu, |_| {}).await;
    let r = app.post("/Users", json!({"userName": "Ada Lovelace"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["scimType"], "invalidValue");
    let u = app.create_user("old.name@corp.example").await;
    // keep (default): Identity Center keeps the name, the rest follows.
    app.patch(
        &format!("/Users/{u}"),
        json!([{"op": "replace", "value": {"userName": "new.name@corp.example", "displayName": "Renamed"}}]),
    )
    .await;
    drain(&app, Duration::from_secs(10)).await;
    let s = emu.emulator.snapshot();
    assert_eq!(s.users.len(), 1);
    assert_eq!(s.users[0].user_name, "old.name@corp.example");
    assert_eq!(s.users[0].display_name, "Renamed");
    drop(app);

    // reject: 400 mutability, nothing changes.
    let emu = spawn_emulator(|_| {}).await;
    let app = spawn_live(&emu, |c| c.tenants[0].on_username_change = OnUsernameChange::Reject).await;
    let u = app.create_user("fixed@corp.example").await;
    let r = app
        .patch(
            &format!("/Users/{u}"),
            json!([{"op": "replace", "path": "userName", "value": "moved@corp.example"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "mutability");
    assert_eq!(
        app.get(&format!("/Users/{u}")).await.body["userName"],
        "fixed@corp.example"
    );
    drop(app);

    // recreate: a new Identity Center user under the new name, with its memberships.
    let emu = spawn_emulator(|_| {}).await;
    let app = spawn_live(&emu, |c| c.tenants[0].on_username_change = OnUsernameChange::Recreate).await;
    let u = app.create_user("before@corp.example").await;
    app.create_group("team", &[&u]).await;
    drain(&app, Duration::from_secs(10)).await;
    let old_id = emu.emulator.snapshot().users[0].user_id.clone();
    app.patch(
        &format!("/Users/{u}"),
        json!([{"op": "replace", "path": "userName", "value": "after@corp.example"}]),
    )
    .await;
    drain(&app, Duration::from_secs(10)).await;
    let s = emu.emulator.snapshot();
    assert_eq!(s.users.len(), 1, "{:?}", s.users);
    assert_eq!(s.users[0].user_name, "after@corp.example");
    assert_ne!(s.users[0].user_id, old_id);
    assert_eq!(
        memberships(&s)["team"],
        BTreeSet::from(["after@corp.example".to_owned()])
    );
}

#[tokio::test]
async fn shadow_tenants_record_the_plan_and_send_nothing() {
    let emu = spawn_emulator(|_| {}).await;
    let app = spawn_live(&emu, |c| c.tenants[0].mode = TenantMode::Shadow).await;
    let u = app.create_user("shadow@corp.example").await;
    app.create_group("shadow-group", &[&u]).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(emu.emulator.stats().calls.values().sum::<u64>(), 0, "nothing sent");
    let plan = app.outbox().await;
    assert_eq!(
        plan,
        vec![
            ("group.sync".to_owned(), 1),
            ("member.sync".to_owned(), 1),
            ("user.sync".to_owned(), 1)
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn the_fuse_holds_mass_deletions_until_released() {
    let emu = spawn_emulator(|_| {}).await;
    let app = spawn_live(&emu, |c| {
        c.engine.fuse_min = 2;
        c.engine.fuse_share = 0.2;
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(app.create_user(&format!("fuse{i}@corp.example")).await);
    }
    drain(&app, Duration::from_secs(10)).await;
    for id in &ids[..5] {
        assert_eq!(app.delete(&format!("/Users/{id}")).await.status, StatusCode::NO_CONTENT);
    }
    let states = drain(&app, Duration::from_secs(10)).await;
    assert_eq!(states.get("held"), Some(&3), "{states:?}");
    assert_eq!(
        emu.emulator.snapshot().users.len(),
        4,
        "two deletions passed, three are held"
    );
    let alarm = crate::db::strings(
        &app.db_url,
        "SELECT code FROM alarms WHERE code = 'fuse' AND cleared_at IS NULL",
    )
    .await;
    assert!(!alarm.is_empty());
    // Creates keep flowing while the fuse holds the deletions.
    app.create_user("still-flowing@corp.example").await;
    assert!(
        emu.emulator
            .snapshot()
            .users
            .iter()
            .any(|u| u.user_name == "still-flowing@corp.example")
    );
    // An admin releases them.
    let store = cic_bridge::store::Store::connect(&app.db_url, 1, false).await.unwrap();
    let n = store
        .retry_ops(None, Some("a"), &["held"], time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(n, 3);
    drain(&app, Duration::from_secs(10)).await;
    assert_eq!(emu.emulator.snapshot().users.len(), 2);
}

#[tokio::test]
async fn faults_and_throttling_do_not_lose_or_duplicate_anything() {
    let emu = spawn_emulator(|c: &mut EmulatorConfig| {
        c.fault_rate = 0.2;
        c.slow_answer = Duration::from_millis(150);
        c.rate_limit = 300;
    })
    .await;
    let app = spawn_live(&emu, |c| {
        c.cic.rate_limit_per_action = 250;
        c.engine.create_wait_ms = 0;
    })
    .await;
    let mut users = Vec::new();
    for i in 0..300 {
        users.push((
            format!("load{i:03}@corp.example"),
            app.post(
                "/Users",
                user_body(&format!("load{i:03}@corp.example"), "Load", &format!("U{i}")),
            )
            .await
            .id(),
        ));
    }
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for gi in 0..24 {
        let name = format!("load-group-{gi:02}");
        let members: Vec<&str> = users
            .iter()
            .enumerate()
            .filter(|(i, _)| (i + gi) % 3 == 0)
            .map(|(_, (_, id))| id.as_str())
            .collect();
        app.create_group(&name, &members).await;
        expected.insert(
            name,
            users
                .iter()
                .enumerate()
                .filter(|(i, _)| (i + gi) % 3 == 0)
                .map(|(_, (n, _))| n.clone())
                .collect(),
        );
    }
    emu.emulator
        .inject_faults([Fault::DropConnection, Fault::DropConnection, Fault::ServiceUnavailable]);
    let states = drain(&app, Duration::from_secs(120)).await;
    assert_eq!(states.get("failed"), None, "{states:?}");
    let s = emu.emulator.snapshot();
    assert_eq!(s.users.len(), 300, "no duplicates, nothing missing");
    let names: BTreeSet<&str> = s.users.iter().map(|u| u.user_name.as_str()).collect();
    assert_eq!(names.len(), 300);
    assert_eq!(memberships(&s), expected);
    assert!(emu.emulator.stats().faults > 0, "faults were injected");
}

/// Issue 13 item 5: a worker whose lease expired (and whose operation another worker took
/// over) must not delete or overwrite the link the new owner saved. Here the stale worker
/// finds the linked user gone (deleted by hand after the new owner's run), so it forgets the
/// link and creates the user again: both writes must wait for its outcome, which is dropped
/// because it no longer holds the lease.
#[tokio::test]
async fn a_worker_whose_lease_expired_leaves_the_new_owners_link_alone() {
    use cic_bridge::engine::{Engine, TenantPolicy, exec};
    use cic_bridge::scim::schema::ResourceKind;
    use cic_bridge::store::{CicLink, Finish, LinkWrite, Store, Write};
    use std::sync::Arc;

    let emu = spawn_emulator(|_| {}).await;
    let db = crate::db::fresh().await;
    let store = Store::connect(&db.url, 2, false).await.unwrap();
    let engine = Engine::new(
        store.clone(),
        Arc::new(emu.client()),
        [TenantPolicy {
            name: "a".into(),
            zone_id: emu.zone(),
            on_conflict: OnConflict::Reject,
            on_username_change: OnUsernameChange::Keep,
            mode: TenantMode::Live,
        }],
        Default::default(),
        cic_bridge::tencent::clock::system_clock(),
        cic_bridge::engine::rules::Rules::new(&[]).unwrap(),
        None,
    );
    let doc = json!({"userName": "alice", "name": {"givenName": "Alice"}});
    let (row, op_id) = store
        .create(
            ResourceKind::User,
            "a",
            doc.as_object().unwrap().clone(),
            None,
            &Origin::system("test"),
        )
        .await
        .unwrap();
    let t0 = time::OffsetDateTime::now_utc();
    let lease = Duration::from_secs(30);
    let tenants = vec!["a".to_owned()];
    // w1 claims; its lease expires; w2 takes the operation over and saves its link.
    let stale = store.claim("w1", &tenants, t0, lease, 10, &[]).await.unwrap().remove(0);
    assert_eq!(stale.id, op_id);
    let later = t0 + Duration::from_secs(31);
    assert_eq!(store.reap_expired(later).await.unwrap(), 1);
    let owner = store
        .claim("w2", &tenants, later, lease, 10, &[])
        .await
        .unwrap()
        .remove(0);
    let theirs = CicLink {
        cic_id: "u-deletedbyhand".into(),
        cic_name: "alice".into(),
        synced: json!({}),
    };
    let link = Write::Link(LinkWrite {
        tenant: "a".into(),
        kind: ResourceKind::User,
        scim_id: row.id.clone(),
        link: theirs.clone(),
    });
    let done = Finish::Done { result: "w2".into() };
    assert!(store.finish(owner.id, "w2", &done, later, &[link]).await.unwrap());

    // w1 wakes up and runs its attempt: UpdateUser finds no such user, so it relinks.
    let (outcome, writes) = exec::execute(&engine, &stale).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let late = Finish::Done { result: "w1".into() };
    let recorded = store.finish(stale.id, "w1", &late, later, &writes).await.unwrap();
    assert!(!recorded, "w1 no longer holds the lease");
    let kept = store.link("a", ResourceKind::User, &row.id).await.unwrap();
    assert_eq!(
        kept.map(|l| l.cic_id),
        Some(theirs.cic_id),
        "the stale worker neither deleted nor replaced the new owner's link"
    );
}

/// Found by the soak: a group whose CreateGroup answer was lost (applied, the client timed
/// out) and that was renamed before the retry got a second group under the new name, the first
/// left behind. The retry now finds its own group by cic-bridge's marker, whatever its name.
#[tokio::test]
async fn a_group_renamed_while_its_create_answer_was_lost_ends_as_one_group() {
    let emu = spawn_emulator(|_| {}).await;
    // The create answers at once, so the rename lands while the CreateGroup answer is late.
    let app = spawn_live(&emu, |c| c.engine.create_wait_ms = 0).await;
    emu.emulator
        .inject_fault_on("CreateGroup", Fault::Slow(Duration::from_millis(2500)));
    let r = app
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "before-rename"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let g = r.body["id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while emu.emulator.stats().calls("CreateGroup") == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no CreateGroup");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.patch(
        &format!("/Groups/{g}"),
        json!([{"op": "replace", "path": "displayName", "value": "after-rename"}]),
    )
    .await;
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None);
    let names: Vec<String> = emu
        .emulator
        .snapshot()
        .groups
        .iter()
        .map(|g| g.group_name.clone())
        .collect();
    assert_eq!(names, vec!["after-rename".to_owned()], "one group, under the new name");
    assert_eq!(emu.emulator.stats().calls("CreateGroup"), 1, "created once");
}

/// The same for users: a user renamed while its CreateUser answer was lost is found by the
/// marker on the retry (ListUsers' free-text filter covers descriptions), not created twice.
#[tokio::test]
async fn a_user_renamed_while_its_create_answer_was_lost_ends_as_one_user() {
    let emu = spawn_emulator(|_| {}).await;
    let app = spawn_live(&emu, |c| c.engine.create_wait_ms = 0).await;
    emu.emulator
        .inject_fault_on("CreateUser", Fault::Slow(Duration::from_millis(2500)));
    let u = app.create_user("before-rename@corp.example").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while emu.emulator.stats().calls("CreateUser") == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no CreateUser");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.patch(
        &format!("/Users/{u}"),
        json!([{"op": "replace", "path": "userName", "value": "after-rename@corp.example"}]),
    )
    .await;
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None);
    let users = emu.emulator.snapshot().users;
    assert_eq!(users.len(), 1, "one user: {users:?}");
    assert_eq!(emu.emulator.stats().calls("CreateUser"), 1, "created once");
}

/// The soak found it: a user's UpdateUserStatus took effect but its answer was lost, and SCIM
/// reverted the change before the retry. The retry compared with what the link recorded as
/// synced (the old status), found nothing to do, and Identity Center kept the user enabled
/// while the IdP had disabled it. A re-run now reads the user back first.
#[tokio::test]
async fn a_status_change_reverted_while_its_answer_was_lost_ends_as_scim_says() {
    let emu = spawn_emulator(|_| {}).await;
    let app = spawn_live(&emu, |_| {}).await;
    let u = app.create_user("flip@corp.example").await;
    app.patch(
        &format!("/Users/{u}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    drain(&app, Duration::from_secs(20)).await;
    let status = |emu: &crate::tencent_harness::TestEmulator| emu.emulator.snapshot().users[0].user_status;
    assert_eq!(status(&emu), cic_bridge::tencent::model::UserStatus::Disabled);
    // Enabled in Identity Center, answered after the client's 2 s timeout...
    emu.emulator
        .inject_fault_on("UpdateUserStatus", Fault::Slow(Duration::from_millis(2500)));
    let calls = emu.emulator.stats().calls("UpdateUserStatus");
    app.patch(
        &format!("/Users/{u}"),
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while emu.emulator.stats().calls("UpdateUserStatus") == calls {
        assert!(tokio::time::Instant::now() < deadline, "no UpdateUserStatus");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...and disabled again in SCIM before the retry.
    app.patch(
        &format!("/Users/{u}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None);
    assert_eq!(
        status(&emu),
        cic_bridge::tencent::model::UserStatus::Disabled,
        "SCIM says inactive; Identity Center must agree"
    );
}

/// The same for a group: a rename whose answer was lost, reverted in SCIM before the retry,
/// left the Identity Center group under the abandoned name (and the rules' assignments on a
/// group whose name no rule matches).
#[tokio::test]
async fn a_rename_reverted_while_its_answer_was_lost_ends_as_scim_says() {
    let emu = spawn_emulator(|_| {}).await;
    let app = spawn_live(&emu, |_| {}).await;
    let g = app.create_group("team-blue", &[]).await;
    drain(&app, Duration::from_secs(20)).await;
    emu.emulator
        .inject_fault_on("UpdateGroup", Fault::Slow(Duration::from_millis(2500)));
    app.patch(
        &format!("/Groups/{g}"),
        json!([{"op": "replace", "path": "displayName", "value": "team-red"}]),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while emu.emulator.stats().calls("UpdateGroup") == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no UpdateGroup");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.patch(
        &format!("/Groups/{g}"),
        json!([{"op": "replace", "path": "displayName", "value": "team-blue"}]),
    )
    .await;
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None);
    let names: Vec<String> = emu
        .emulator
        .snapshot()
        .groups
        .iter()
        .map(|g| g.group_name.clone())
        .collect();
    assert_eq!(names, ["team-blue"], "SCIM says team-blue; Identity Center must agree");
}

/// The soak again: a disable whose answer was lost, retried, found the user already disabled
/// ("already in sync") but did not record it, so the link still said enabled. The next
/// enable then compared with that and also said "already in sync": Identity Center kept the
/// user disabled while SCIM said active.
#[tokio::test]
async fn a_status_change_whose_answer_was_lost_is_recorded_for_the_next_change() {
    let emu = spawn_emulator(|_| {}).await;
    let app = spawn_live(&emu, |_| {}).await;
    let u = app.create_user("lost-disable@corp.example").await;
    drain(&app, Duration::from_secs(20)).await;
    let status = |emu: &crate::tencent_harness::TestEmulator| emu.emulator.snapshot().users[0].user_status;
    emu.emulator
        .inject_fault_on("UpdateUserStatus", Fault::Slow(Duration::from_millis(2500)));
    let path = format!("/Users/{u}");
    let set_active = |active: bool| app.patch(&path, json!([{"op": "replace", "path": "active", "value": active}]));
    set_active(false).await;
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None);
    assert_eq!(status(&emu), cic_bridge::tencent::model::UserStatus::Disabled);
    set_active(true).await;
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None);
    assert_eq!(
        status(&emu),
        cic_bridge::tencent::model::UserStatus::Enabled,
        "SCIM says active; Identity Center must agree"
    );
}

/// The same for a group: a rename whose answer was lost, found done by the retry, must be
/// recorded, or renaming the group back compares with the old name and changes nothing.
#[tokio::test]
async fn a_rename_whose_answer_was_lost_is_recorded_for_the_next_change() {
    let emu = spawn_emulator(|_| {}).await;
    let app = spawn_live(&emu, |_| {}).await;
    let g = app.create_group("team-blue", &[]).await;
    drain(&app, Duration::from_secs(20)).await;
    emu.emulator
        .inject_fault_on("UpdateGroup", Fault::Slow(Duration::from_millis(2500)));
    let path = format!("/Groups/{g}");
    let rename =
        |name: &'static str| app.patch(&path, json!([{"op": "replace", "path": "displayName", "value": name}]));
    let names = |emu: &crate::tencent_harness::TestEmulator| -> Vec<String> {
        emu.emulator
            .snapshot()
            .groups
            .iter()
            .map(|g| g.group_name.clone())
            .collect()
    };
    rename("team-red").await;
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None);
    assert_eq!(names(&emu), ["team-red"]);
    rename("team-blue").await;
    let states = drain(&app, Duration::from_secs(30)).await;
    assert_eq!(states.get("failed"), None);
    assert_eq!(
        names(&emu),
        ["team-blue"],
        "SCIM says team-blue; Identity Center must agree"
    );
}
