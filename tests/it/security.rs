//! The security walk: every route refuses a missing or wrong token, SCIM and admin tokens open
//! only their own routes, `server.admin_listen` keeps admin routes off the SCIM listener, and
//! bodies, page sizes and filters are bounded.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, TOKEN_A, spawn_app, spawn_with};

/// Every SCIM route and method the router serves.
const SCIM_ROUTES: &[(&str, &str)] = &[
    ("GET", "/Users"),
    ("POST", "/Users"),
    ("GET", "/Users/u1"),
    ("PUT", "/Users/u1"),
    ("PATCH", "/Users/u1"),
    ("DELETE", "/Users/u1"),
    ("GET", "/Groups"),
    ("POST", "/Groups"),
    ("GET", "/Groups/g1"),
    ("PUT", "/Groups/g1"),
    ("PATCH", "/Groups/g1"),
    ("DELETE", "/Groups/g1"),
    ("GET", "/ServiceProviderConfig"),
    ("GET", "/ResourceTypes"),
    ("GET", "/ResourceTypes/User"),
    ("GET", "/Schemas"),
    ("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"),
    ("POST", "/Bulk"),
    ("GET", "/Me"),
    ("POST", "/.search"),
    ("POST", "/Users/.search"),
    ("POST", "/Groups/.search"),
];

/// Every admin route, the status page and the metrics.
const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/admin"),
    ("GET", "/admin/status"),
    ("GET", "/admin/jobs"),
    ("POST", "/admin/jobs/1/retry"),
    ("POST", "/admin/jobs/retry-parked"),
    ("POST", "/admin/jobs/release-held"),
    ("POST", "/admin/provision"),
    ("GET", "/admin/tasks"),
    ("POST", "/admin/reconcile"),
    ("GET", "/admin/explain?user=x"),
    ("GET", "/metrics"),
];

enum Cred<'a> {
    None,
    Bearer(&'a str),
    Basic(&'a str),
    Raw(&'a str),
}

async fn call(client: &reqwest::Client, method: &str, url: &str, cred: &Cred<'_>) -> StatusCode {
    let mut req = client.request(Method::from_bytes(method.as_bytes()).unwrap(), url);
    req = match cred {
        Cred::None => req,
        Cred::Bearer(t) => req.bearer_auth(t),
        Cred::Basic(t) => req.basic_auth("admin", Some(t)),
        Cred::Raw(h) => req.header("authorization", *h),
    };
    if method != "GET" && method != "DELETE" {
        req = req.header("content-type", "application/scim+json").body("{}");
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn every_route_refuses_missing_wrong_and_foreign_tokens() {
    let app = spawn_app().await;
    let wrong = [
        Cred::None,
        Cred::Bearer("wrong-token-0123456789abcdef"),
        Cred::Bearer(""),
        Cred::Raw("Bearer"),
        Cred::Raw("Token admin-token-0123456789abcdef"),
        Cred::Basic("wrong-token-0123456789abcdef"),
    ];
    for (method, path) in SCIM_ROUTES {
        let url = format!("{}{path}", app.scim);
        for cred in wrong.iter().chain([
            &Cred::Bearer(ADMIN_TOKEN),
            &Cred::Basic(TOKEN_A),
            &Cred::Basic(ADMIN_TOKEN),
        ]) {
            assert_eq!(
                call(&app.client, method, &url, cred).await,
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
        }
        // The tenant's token opens it (whatever the answer then is, it is not 401).
        assert_ne!(
            call(&app.client, method, &url, &Cred::Bearer(TOKEN_A)).await,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
    for (method, path) in ADMIN_ROUTES {
        let url = format!("{}{path}", app.root);
        for cred in wrong.iter().chain([&Cred::Bearer(TOKEN_A), &Cred::Basic(TOKEN_A)]) {
            assert_eq!(
                call(&app.client, method, &url, cred).await,
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
        }
        for cred in [Cred::Bearer(ADMIN_TOKEN), Cred::Basic(ADMIN_TOKEN)] {
            assert_ne!(
                call(&app.client, method, &url, &cred).await,
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
        }
    }
    // Probes stay open.
    for path in ["/healthz", "/readyz"] {
        let url = format!("{}{path}", app.root);
        assert_eq!(
            call(&app.client, "GET", &url, &Cred::None).await,
            StatusCode::OK,
            "{path}"
        );
    }
}

#[tokio::test]
async fn bodies_pages_and_filters_are_bounded() {
    let app = spawn_with(|c| {
        c.server.max_body_bytes = 64 * 1024;
        c.scim.max_page_size = 50;
        c.scim.default_page_size = 20;
    })
    .await;
    let big = "x".repeat(100 * 1024);
    let r = app
        .post("/Users", json!({"userName": "big@corp.example", "displayName": big}))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);

    for i in 0..60 {
        app.create_user(&format!("page{i}@corp.example")).await;
    }
    let r = app.get("/Users?count=100000").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["itemsPerPage"], 50, "{}", r.body["itemsPerPage"]);
    assert_eq!(r.body["Resources"].as_array().unwrap().len(), 50);

    let long = vec!["userName eq \"someone@corp.example\""; 200].join(" or ");
    let r = app.get(&crate::helpers::filter_path("/Users", &long)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidFilter", "{}", r.body);
    let deep = format!("{}userName eq \"a\"{}", "(".repeat(40), ")".repeat(40));
    let r = app.get(&crate::helpers::filter_path("/Users", &deep)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidFilter", "{}", r.body);
    let deep_not = format!("{}userName eq \"a\"{}", "not (".repeat(40), ")".repeat(40));
    let r = app.get(&crate::helpers::filter_path("/Users", &deep_not)).await;
    assert_eq!(r.body["scimType"], "invalidFilter", "{}", r.body);
}

#[tokio::test]
async fn admin_listen_serves_admin_routes_there_and_only_there() {
    let admin_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let app = spawn_with(|c| c.server.admin_listen = Some(admin_addr)).await;
    let admin_root = format!("http://{admin_addr}");
    for (method, path) in ADMIN_ROUTES {
        let on_scim = call(
            &app.client,
            method,
            &format!("{}{path}", app.root),
            &Cred::Bearer(ADMIN_TOKEN),
        )
        .await;
        assert_eq!(on_scim, StatusCode::NOT_FOUND, "{method} {path} on the SCIM listener");
        let url = format!("{admin_root}{path}");
        assert_eq!(
            call(&app.client, method, &url, &Cred::None).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_ne!(
            call(&app.client, method, &url, &Cred::Bearer(ADMIN_TOKEN)).await,
            StatusCode::UNAUTHORIZED,
            "{method} {path} on the admin listener"
        );
    }
    let r = app
        .client
        .get(format!("{admin_root}/admin/status"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // SCIM is not served on the admin listener, and still is on its own.
    for (method, path) in SCIM_ROUTES {
        let url = format!("{admin_root}/scim/v2{path}");
        assert_eq!(
            call(&app.client, method, &url, &Cred::Bearer(TOKEN_A)).await,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(app.get("/Users").await.status, StatusCode::OK);
    for root in [&app.root, &admin_root] {
        let url = format!("{root}/readyz");
        assert_eq!(
            call(&app.client, "GET", &url, &Cred::None).await,
            StatusCode::OK,
            "{url}"
        );
    }
}
