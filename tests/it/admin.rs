//! The admin API over loopback: its own token, status, jobs, retries, fuse release.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::engine::{drain, spawn_live};
use crate::helpers::{ADMIN_TOKEN, TOKEN_A, TestApp, spawn_app};
use crate::tencent_harness::spawn_emulator;

async fn admin(app: &TestApp, method: reqwest::Method, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = app.client.request(method, format!("{}{path}", app.root));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_admin_route_needs_the_admin_token_and_only_it() {
    let app = spawn_app().await;
    let routes = [
        (reqwest::Method::GET, "/admin/status"),
        (reqwest::Method::GET, "/admin/jobs"),
        (reqwest::Method::POST, "/admin/jobs/1/retry"),
        (reqwest::Method::POST, "/admin/jobs/retry-parked"),
        (reqwest::Method::POST, "/admin/jobs/release-held"),
    ];
    for (m, path) in routes {
        for token in [None, Some(TOKEN_A), Some("admin-token-0123456789abcdeX")] {
            let (status, body) = admin(&app, m.clone(), path, token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{m} {path} with {token:?}");
            assert_eq!(body["status"], 401);
        }
    }
    // The admin token is not a SCIM token either.
    let r = app.request_as(ADMIN_TOKEN, reqwest::Method::GET, "/Users", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let (status, body) = admin(&app, reqwest::Method::GET, "/admin/jobs?state=bogus", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = admin(
        &app,
        reqwest::Method::POST,
        "/admin/jobs/424242/retry",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn status_shows_the_queue_alarms_and_held_jobs_and_an_admin_releases_them() {
    let emu = spawn_emulator(|_| {}).await;
    let app = spawn_live(&emu, |c| {
        c.engine.fuse_min = 1;
        c.engine.fuse_share = 0.1;
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(app.create_user(&format!("adm{i}@corp.example")).await);
    }
    drain(&app, Duration::from_secs(10)).await;
    for id in &ids[..3] {
        app.delete(&format!("/Users/{id}")).await;
    }
    drain(&app, Duration::from_secs(10)).await;
    let (status, s) = admin(&app, reqwest::Method::GET, "/admin/status", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let a = s["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "a")
        .unwrap()
        .clone();
    assert_eq!(a["mode"], "live");
    assert_eq!(a["users"], 1);
    assert_eq!(a["queue"]["held"]["user.delete"], 2, "{s}");
    assert!(
        s["alarms"].as_array().unwrap().iter().any(|x| x["code"] == "fuse"),
        "{s}"
    );
    let (_, jobs) = admin(
        &app,
        reqwest::Method::GET,
        "/admin/jobs?state=held&tenant=a",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 2);
    let (status, r) = admin(
        &app,
        reqwest::Method::POST,
        "/admin/jobs/release-held?tenant=a",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!((status, r["released"].as_i64()), (StatusCode::OK, Some(2)));
    drain(&app, Duration::from_secs(10)).await;
    assert_eq!(emu.emulator.snapshot().users.len(), 1);
    let (_, s) = admin(&app, reqwest::Method::GET, "/admin/status", Some(ADMIN_TOKEN)).await;
    assert!(
        s["alarms"].as_array().unwrap().iter().all(|x| x["code"] != "fuse"),
        "{s}"
    );
}

#[tokio::test]
async fn provision_through_the_admin_api_and_list_its_task() {
    let emu = spawn_emulator(|_| {}).await;
    let rc = crate::tencent_harness::create_role_configuration(&emu.client(), &emu.zone(), "Adm").await;
    let app = spawn_live(&emu, |_| {}).await;
    let post = |body: Value| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(format!("{}/admin/provision", app.root))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) =
        post(serde_json::json!({"roleConfigurationId": rc.role_configuration_id, "tenant": "nope", "account": 1}))
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) =
        post(serde_json::json!({"roleConfigurationId": rc.role_configuration_id, "tenant": "a"})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "neither account nor allAccounts: {body}"
    );
    let (status, body) = post(serde_json::json!({
        "roleConfigurationId": rc.role_configuration_id, "tenant": "a", "account": crate::tencent_harness::MEMBER_A
    }))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["job"].as_i64().is_some());
    drain(&app, Duration::from_secs(10)).await;
    let (_, tasks) = admin(&app, reqwest::Method::GET, "/admin/tasks?tenant=a", Some(ADMIN_TOKEN)).await;
    let tasks = tasks["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["status"], "Success");
    assert_eq!(tasks[0]["account"], crate::tencent_harness::MEMBER_A);
    assert_eq!(emu.emulator.snapshot().deployments.len(), 1);
    // The ended task is timed in the metrics, and no task is left in progress.
    let (_, status) = admin(&app, reqwest::Method::GET, "/admin/status", Some(ADMIN_TOKEN)).await;
    assert_eq!(status["tasksInProgress"], serde_json::json!([]), "{status}");
    let text = app
        .client
        .get(format!("{}/metrics", app.root))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let timed = text
        .lines()
        .find(|l| l.starts_with("cic_bridge_task_duration_seconds_count{") && l.contains("status=\"Success\""))
        .unwrap_or_else(|| panic!("no task duration in\n{text}"));
    assert!(
        timed.rsplit(' ').next().unwrap().parse::<f64>().unwrap() >= 1.0,
        "{timed}"
    );
}
