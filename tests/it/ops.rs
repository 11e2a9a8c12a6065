//! Operating the daemon: `/admin/status`, the status page (also in headless Chromium),
//! `/metrics`, `/healthz` and `/readyz`, Basic auth for browsers, and `server.admin_listen`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::engine::{drain, spawn_live};
use crate::helpers::{ADMIN_TOKEN, TOKEN_B, TestApp, spawn_app};
use crate::tencent_harness::{TestEmulator, create_user, spawn_emulator};
use cic_bridge::tencent::model::CreateUser;

pub(crate) async fn admin_get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.root))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

/// A live tenant `a` with users, a group with two members, a refused create (a failure with a
/// code and a RequestId), a create parked on the zone's user quota (an alarm), and a shadow
/// tenant `b` whose operation stays due.
async fn busy_app() -> (TestEmulator, TestApp) {
    let emu = spawn_emulator(|c| c.settings.user_limit = 3).await;
    create_user(&emu.client(), &emu.zone(), "taken").await;
    let app = spawn_live(&emu, |c| {
        c.server.status_sample_secs = 1;
        // Creates answer at once and leave the outcome to the queue: a create on a full
        // quota is then parked (a waiting create would be abandoned with 429 instead).
        c.engine.create_wait_ms = 0;
    })
    .await;
    let u1 = app.create_user("ops1@corp.example").await;
    let u2 = app.create_user("ops2@corp.example").await;
    app.create_group("ops-team", &[&u1, &u2]).await;
    // Refused by Identity Center: UsernameAlreadyExists, rolled back, failed.
    app.post("/Users", json!({"userName": "taken"})).await;
    drain(&app, Duration::from_secs(10)).await;
    // taken + ops1 + ops2 fill the quota of 3.
    app.post("/Users", json!({"userName": "ops3@corp.example"})).await;
    app.request_as(
        TOKEN_B,
        reqwest::Method::POST,
        "/Users",
        Some(json!({"userName": "shadow@corp.example"})),
    )
    .await;
    // A SCIM 404 on a route with a path parameter.
    assert_eq!(app.get("/Users/no-such-user").await.status, StatusCode::NOT_FOUND);
    drain(&app, Duration::from_secs(10)).await;
    // Two samples at least for the chart.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    (emu, app)
}

fn tenant<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap()
}

#[tokio::test]
async fn status_shows_holdings_queue_failures_alarms_and_reachability() {
    let (emu, app) = busy_app().await;
    let s: Value = admin_get(&app, "/admin/status").await.json().await.unwrap();
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert!(s["uptimeSecs"].as_u64().is_some());
    let a = tenant(&s, "a");
    assert_eq!(a["groups"], 1, "{a}");
    assert_eq!(a["memberships"], 2, "{a}");
    assert!(a["users"].as_i64().unwrap() >= 2, "{a}");
    assert_eq!(a["queueTotals"]["parked"], 1, "{a}");
    assert_eq!(a["queueTotals"]["failed"], 1, "{a}");
    assert_eq!(a["queue"]["parked"]["user.sync"], 1, "by state, then kind: {a}");
    assert_eq!(a["queueByKind"]["user.sync"]["failed"], 1, "by kind, then state: {a}");
    assert_eq!(a["zoneUsage"]["userQuota"], 3, "GetZoneStatistics: {a}");
    let b = tenant(&s, "b");
    assert_eq!(b["queueTotals"]["due"], 1, "a shadow tenant's operation stays due: {b}");
    assert!(b["oldestDueAgeSecs"].as_i64().unwrap() >= 1, "{b}");

    let f = &s["failures"][0];
    assert_eq!(f["state"], "failed");
    assert!(
        f["error"]["code"].as_str().unwrap().contains("UsernameAlreadyExists"),
        "{f}"
    );
    assert!(!f["error"]["requestId"].as_str().unwrap_or_default().is_empty(), "{f}");
    let quota = |s: &Value| {
        s["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["code"].as_str().unwrap().starts_with("quota:"))
            .unwrap_or_else(|| panic!("no quota alarm: {s}"))
            .clone()
    };
    assert_eq!(quota(&s)["zoneUsage"]["userQuota"], 3, "{s}");
    // While the alarm is raised the zone's usage is refreshed at every sample: it shows full.
    let mut usage = Value::Null;
    for _ in 0..100 {
        let s: Value = admin_get(&app, "/admin/status").await.json().await.unwrap();
        usage = quota(&s)["zoneUsage"].clone();
        if usage["users"] == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(usage["users"], 3, "{usage}");

    let ic = &s["identityCenter"];
    assert_eq!(ic["reachable"], true, "{ic}");
    assert!(ic["lastSuccessAt"].is_string(), "{ic}");
    assert!(
        ic["lastError"]["code"].is_string(),
        "the conflict and the quota error: {ic}"
    );
    assert!(ic["calls"].as_u64().unwrap() >= 5, "{ic}");
    assert!(ic["throttled"]["requestLimitExceeded"].is_u64(), "{ic}");
    assert!(s["tasksInProgress"].is_array());
    assert!(s["queueHistory"]["samples"].as_array().unwrap().len() >= 2, "{s}");

    // Unreachable Identity Center: the status says so, with the last success kept.
    drop(emu);
    app.create_user("after@corp.example").await;
    let mut s = Value::Null;
    for _ in 0..100 {
        s = admin_get(&app, "/admin/status").await.json().await.unwrap();
        if s["identityCenter"]["reachable"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ic = &s["identityCenter"];
    assert_eq!(ic["reachable"], false, "{ic}");
    assert!(ic["lastSuccessAt"].is_string(), "{ic}");
    assert!(ic["lastError"]["code"].is_null(), "a transport error has no code: {ic}");
}

/// The value of the first series `name{…}` whose labels include all of `labels`.
pub(crate) fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .reduce(|a, b| a + b)
}

#[tokio::test]
async fn metrics_show_requests_calls_queue_and_alarms() {
    let (emu, app) = busy_app().await;
    let r = app.client.get(format!("{}/metrics", app.root)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "metrics need the admin token");
    let r = admin_get(&app, "/metrics").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"),
        "{:?}",
        r.headers()
    );
    let text = r.text().await.unwrap();
    let m = |name: &str, labels: &[(&str, &str)]| {
        series(&text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
    };
    // Other tests in this binary share the process's counters: at least what this one did.
    let created = [("route", "/scim/v2/Users"), ("method", "POST"), ("status", "201")];
    assert!(m("cic_bridge_http_requests_total", &created) >= 2.0);
    assert!(m("cic_bridge_http_request_duration_seconds_count", &created) >= 2.0);
    assert!(
        m(
            "cic_bridge_http_request_duration_seconds_bucket",
            &[("route", "/scim/v2/Users"), ("le", "+Inf")]
        ) >= 2.0
    );
    assert!(
        m(
            "cic_bridge_http_requests_total",
            &[("route", "/scim/v2/Users/{id}"), ("method", "GET"), ("status", "404")]
        ) >= 1.0
    );
    assert!(
        !text.contains("no-such-user"),
        "routes are labelled by their pattern, never by a raw path"
    );
    assert!(
        m(
            "cic_bridge_cic_calls_total",
            &[("action", "CreateUser"), ("outcome", "ok")]
        ) >= 2.0
    );
    assert!(
        m(
            "cic_bridge_cic_calls_total",
            &[("action", "CreateUser"), ("outcome", "conflict")]
        ) >= 1.0
    );
    assert!(
        m(
            "cic_bridge_cic_calls_total",
            &[("action", "CreateUser"), ("outcome", "quota")]
        ) >= 1.0
    );
    let call_secs = m("cic_bridge_cic_call_duration_seconds_sum", &[("action", "CreateUser")]);
    assert!(call_secs > 0.0 && call_secs < 60.0, "{call_secs}");
    assert!(
        m(
            "cic_bridge_operations_total",
            &[("kind", "user.sync"), ("outcome", "done")]
        ) >= 2.0
    );
    assert!(
        m(
            "cic_bridge_operation_duration_seconds_count",
            &[("kind", "member.sync")]
        ) >= 2.0
    );
    // This app's state, not the process's.
    assert_eq!(
        m("cic_bridge_queue_operations", &[("tenant", "a"), ("state", "parked")]),
        1.0
    );
    assert_eq!(
        m("cic_bridge_queue_operations", &[("tenant", "a"), ("state", "failed")]),
        1.0
    );
    assert_eq!(
        m("cic_bridge_queue_operations", &[("tenant", "b"), ("state", "due")]),
        1.0
    );
    assert!(m("cic_bridge_queue_oldest_due_seconds", &[("tenant", "b")]) >= 1.0);
    // b is a shadow tenant: its due operation is not a stuck queue.
    assert_eq!(m("cic_bridge_tenant_live", &[("tenant", "a")]), 1.0);
    assert_eq!(m("cic_bridge_tenant_live", &[("tenant", "b")]), 0.0);
    assert_eq!(m("cic_bridge_quota_alarms", &[("tenant", "a")]), 1.0);
    assert_eq!(m("cic_bridge_tasks_in_progress", &[("tenant", "a")]), 0.0);
    assert_eq!(
        m("cic_bridge_zone_quota", &[("zone", &emu.zone()), ("object", "users")]),
        3.0
    );
    assert_eq!(
        m("cic_bridge_build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
        1.0
    );
}

#[tokio::test]
async fn healthz_and_readyz_answer_without_a_token() {
    let app = spawn_app().await;
    let r = app.client.get(format!("{}/healthz", app.root)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.client.get(format!("{}/readyz", app.root)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready", "{body}");
    for check in ["database", "migrations", "config"] {
        assert_eq!(body["checks"][check]["status"], "ok", "{body}");
    }

    // A migration recorded as failed (or missing) makes the process not ready, and says which.
    // `success` is an integer on SQLite and a boolean on PostgreSQL; `NOT success` is both.
    crate::db::execute(
        &app.db_url,
        "UPDATE _sqlx_migrations SET success = NOT success WHERE version = 4",
    )
    .await;
    let r = app.client.get(format!("{}/readyz", app.root)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["checks"]["migrations"]["pending"], json!([4]), "{body}");
    assert_eq!(body["checks"]["database"]["status"], "ok", "{body}");
}

#[tokio::test]
async fn the_status_page_takes_basic_auth_and_escapes_what_it_shows() {
    // The SCIM client's words reach the page in failure messages. A userName with markup is
    // refused at the SCIM endpoint and a group name is rewritten to Identity Center's rule
    // before it is sent, but an email is passed on: one that another Identity Center user
    // already has fails the create, and both the failure and Identity Center's last error
    // quote it.
    let hostile = "<script>alert(1)</script>\"'@corp.example";
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;'@corp.example";
    let emu = spawn_emulator(|_| {}).await;
    emu.client()
        .call(&CreateUser {
            zone_id: emu.zone(),
            user_name: "someone-else".into(),
            email: Some(hostile.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let app = spawn_live(&emu, |c| c.engine.create_wait_ms = 0).await;
    let r = app
        .post(
            "/Users",
            json!({"userName": "xss@corp.example", "emails": [{"value": hostile, "primary": true}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(drain(&app, Duration::from_secs(10)).await.get("failed"), Some(&1));

    let r = app.client.get(format!("{}/admin", app.root)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<&str> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(challenges, ["Basic realm=\"cic-bridge admin\""]);
    let r = app
        .client
        .get(format!("{}/admin", app.root))
        .basic_auth("anyone", Some("wrong-token-0123456789"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .get(format!("{}/admin", app.root))
        .basic_auth("anyone", Some(ADMIN_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(html.contains("<meta http-equiv=\"refresh\""), "{html}");
    assert!(html.contains("<svg id=\"queue-chart\""), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("\"'"), "{html}");
    let failure_row = html
        .split("<tr class=\"failure\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no failure row:\n{html}"));
    assert!(failure_row.contains("EmailAlreadyExists"), "{failure_row}");
    assert!(failure_row.contains(escaped), "{failure_row}");
    let identity_center = &html[html
        .find("<table id=\"identity-center\">")
        .expect("the Identity Center table")..];
    let identity_center = &identity_center[..identity_center.find("</table>").expect("its end")];
    assert!(identity_center.contains(escaped), "{identity_center}");
    // Basic works on the JSON routes too (curl -u :TOKEN).
    let r = app
        .client
        .get(format!("{}/admin/status", app.root))
        .basic_auth("", Some(ADMIN_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// Headless Chromium loads the page with the token as the Basic password and the DOM it
/// builds holds the facts. Skips (loudly) without Chromium; CI installs it and sets
/// `CIC_BRIDGE_REQUIRE_CHROMIUM=1`, which turns the skip into a failure.
#[tokio::test]
async fn the_status_page_renders_in_headless_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(|c| format!("/usr/bin/{c}"))
        .find(|p| std::path::Path::new(p).exists())
    else {
        assert!(
            std::env::var("CIC_BRIDGE_REQUIRE_CHROMIUM").is_err(),
            "CIC_BRIDGE_REQUIRE_CHROMIUM is set but no chromium in /usr/bin"
        );
        eprintln!(
            "\n**** SKIPPED the_status_page_renders_in_headless_chromium: no chromium (apt-get install chromium) ****\n"
        );
        return;
    };
    let (_emu, app) = busy_app().await;
    let url = format!(
        "http://admin:{ADMIN_TOKEN}@{}/admin",
        app.root.trim_start_matches("http://")
    );
    let run = |extra: Vec<String>| {
        let chromium = chromium.clone();
        let url = url.clone();
        async move {
            let profile = tempfile::tempdir().unwrap();
            let mut args: Vec<String> = [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.push(format!("--user-data-dir={}", profile.path().display()));
            args.extend(extra);
            args.push(url);
            let out = tokio::time::timeout(
                Duration::from_secs(60),
                tokio::process::Command::new(&chromium)
                    .args(&args)
                    .kill_on_drop(true)
                    .output(),
            )
            .await
            .expect("chromium finished within a minute")
            .expect("chromium started");
            (out, profile)
        }
    };
    let (out, _profile) = run(vec!["--dump-dom".into()]).await;
    let dom = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        dom.contains("<h1>cic-bridge status</h1>"),
        "DOM:\n{dom}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dom.contains(&format!("id=\"version\">{}<", env!("CARGO_PKG_VERSION"))));
    assert!(dom.contains("id=\"reachability\">reachable<"), "{dom}");
    assert!(dom.contains("<svg id=\"queue-chart\""), "{dom}");
    assert!(dom.contains("class=\"series-queued\""), "{dom}");
    let failure_row = dom
        .split("<tr class=\"failure\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no failure row:\n{dom}"));
    assert!(failure_row.contains("UsernameAlreadyExists"), "{failure_row}");
    assert!(dom.contains("quota:"), "the quota alarm: {dom}");

    // The screenshot: a CI artifact under target/, and README's picture when asked for.
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    let shot = target.join("status-page.png");
    let (out, _profile) = run(vec![
        format!("--screenshot={}", shot.display()),
        "--window-size=1280,1100".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());
    if std::env::var("CIC_BRIDGE_UPDATE_SCREENSHOT").is_ok() {
        std::fs::copy(
            &shot,
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status-page.png"),
        )
        .unwrap();
    }
}

/// What the alert rules in deploy/monitoring need besides the counters above: which process
/// leads the engine, calls that got no answer from Identity Center (by action and error), and
/// the families that have no sample while all is well, declared all the same.
#[tokio::test]
async fn metrics_show_the_leader_and_unreachable_identity_center() {
    let emu = spawn_emulator(|_| {}).await;
    // A port nothing listens on: every call is refused before any answer.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_live(&emu, |c| {
        c.cic.endpoint = format!("http://127.0.0.1:{dead}");
        c.engine.create_wait_ms = 0;
    })
    .await;
    app.create_user("unreachable@corp.example").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = admin_get(&app, "/metrics").await.text().await.unwrap();
        let leading = series(&text, "cic_bridge_engine_leader", &[]) == Some(1.0);
        let refused = series(
            &text,
            "cic_bridge_cic_network_errors_total",
            &[("action", "CreateUser"), ("error", "transport")],
        )
        .is_some_and(|n| n >= 1.0);
        if leading && refused {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no leader or no network error in\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(text.contains("# TYPE cic_bridge_engine_leader gauge"), "{text}");
    // The same calls count as `retryable` in cic_bridge_cic_calls_total, and none as ok here.
    assert!(
        series(
            &text,
            "cic_bridge_cic_calls_total",
            &[("action", "CreateUser"), ("outcome", "retryable")]
        )
        .unwrap()
            >= 1.0
    );
    // No alarm, no reconciliation yet, maybe no throttle in this process: declared anyway.
    for (name, kind) in [
        ("cic_bridge_alarm", "gauge"),
        ("cic_bridge_drift", "gauge"),
        ("cic_bridge_drift_items", "gauge"),
        ("cic_bridge_cic_throttled_total", "counter"),
        ("cic_bridge_jwks_fetches_total", "counter"),
        ("cic_bridge_task_duration_seconds", "histogram"),
    ] {
        assert_eq!(
            text.matches(&format!("# TYPE {name} {kind}\n")).count(),
            1,
            "{name} declared once as a {kind} in\n{text}"
        );
    }
    app.stop().await;
}

/// Throttling shows in the status and the metrics: the server's RequestLimitExceeded answers,
/// and the waits for cic-bridge's own per-action limiter.
#[tokio::test]
async fn throttled_calls_are_counted() {
    let emu = spawn_emulator(|c| c.rate_limit = 2).await;
    let app = spawn_live(&emu, |c| {
        c.engine.create_wait_ms = 0;
        c.cic.rate_limit_per_action = 4;
    })
    .await;
    for i in 0..12 {
        app.create_user(&format!("burst{i}@corp.example")).await;
    }
    // Throttled calls back off exponentially: on a loaded machine (CI running beside soaks)
    // the last creates took more than 30 s to get through 2 calls/s.
    drain(&app, Duration::from_secs(90)).await;
    let s: Value = admin_get(&app, "/admin/status").await.json().await.unwrap();
    let t = &s["identityCenter"]["throttled"];
    assert!(t["requestLimitExceeded"].as_u64().unwrap() > 0, "{s}");
    assert!(t["limiterWaits"].as_u64().unwrap() > 0, "{s}");
    let text = admin_get(&app, "/metrics").await.text().await.unwrap();
    assert!(
        series(&text, "cic_bridge_cic_throttled_total", &[]).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        series(&text, "cic_bridge_cic_limiter_waits_total", &[]).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        series(&text, "cic_bridge_operation_retries_total", &[("kind", "user.sync")]).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert_eq!(emu.emulator.snapshot().users.len(), 12);
}

/// A deployment following its Identity Center task shows as `waiting` with its task in
/// progress, then ends `done` with none.
#[tokio::test]
async fn an_operation_following_a_task_shows_as_waiting() {
    let emu = spawn_emulator(|c| c.settings.task_delay = Duration::from_secs(2)).await;
    let rc = crate::tencent_harness::create_role_configuration(&emu.client(), &emu.zone(), "Wait").await;
    let app = spawn_live(&emu, |_| {}).await;
    let r = app
        .client
        .post(format!("{}/admin/provision", app.root))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"roleConfigurationId": rc.role_configuration_id, "tenant": "a", "account": crate::tencent_harness::MEMBER_A}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut seen = Value::Null;
    for _ in 0..40 {
        seen = admin_get(&app, "/admin/status").await.json().await.unwrap();
        if tenant(&seen, "a")["queueTotals"]["waiting"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let a = tenant(&seen, "a");
    assert_eq!(a["queueTotals"]["waiting"], 1, "{seen}");
    assert_eq!(a["queue"]["waiting"]["deploy"], 1, "{seen}");
    let tasks = seen["tasksInProgress"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{seen}");
    assert_eq!(tasks[0]["roleConfigurationId"], rc.role_configuration_id.as_str());
    drain(&app, Duration::from_secs(15)).await;
    let s: Value = admin_get(&app, "/admin/status").await.json().await.unwrap();
    assert_eq!(tenant(&s, "a")["queueTotals"]["waiting"], 0, "{s}");
    assert_eq!(s["tasksInProgress"], json!([]), "{s}");
}
