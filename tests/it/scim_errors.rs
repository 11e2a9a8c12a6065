use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn bad_or_missing_token_is_401_with_scim_body() {
    let app = spawn_app().await;
    for token in ["", "not-a-real-token-at-all"] {
        let r = app.request_as(token, Method::GET, "/Users", None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(
            r.headers["www-authenticate"]
                .to_str()
                .unwrap_or_default()
                .starts_with("Bearer")
        );
        assert_eq!(r.body["status"], "401");
        assert!(!r.body["detail"].as_str().unwrap_or_default().is_empty());
    }
    let basic = app
        .client
        .get(format!("{}/Users", app.scim))
        .basic_auth("u", Some("p"))
        .send()
        .await
        .expect("send");
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let spc = app
        .client
        .get(format!("{}/ServiceProviderConfig", app.scim))
        .send()
        .await
        .expect("send");
    assert_eq!(spc.status(), StatusCode::UNAUTHORIZED, "discovery needs the token too");
}

#[tokio::test]
async fn malformed_bodies_are_400_never_500() {
    let app = spawn_app().await;
    let send = |body: &'static str, ct: &'static str| {
        let req = app
            .client
            .post(format!("{}/Users", app.scim))
            .bearer_auth(&app.token)
            .header("content-type", ct)
            .body(body);
        async move { read(req.send().await.expect("send")).await }
    };
    let r = send("{not json", "application/scim+json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["scimType"], "invalidSyntax");
    let r = send("[1,2]", "application/json").await;
    assert_eq!(r.body["scimType"], "invalidSyntax");
    let r = send("", "application/json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = send("{\"userName\": 5}", "application/json; charset=utf-8").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a number where a string belongs");
    assert_eq!(r.body["scimType"], "invalidValue");
    let r = send("{\"userName\": {\"a\": 1}}", "application/json").await;
    assert_eq!(r.body["scimType"], "invalidValue");
    let r = send("{\"userName\": \"x\", \"name\": \"Ada\"}", "application/json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "name is complex");
    let r = send("{\"userName\": \"y\", \"emails\": \"y@b.c\"}", "application/json").await;
    assert_eq!(
        r.body["emails"][0]["value"], "y@b.c",
        "a bare value where a list of objects belongs becomes its value"
    );
    let r = send("<user/>", "application/xml").await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = app
        .patch(
            "/Users/whatever",
            json!([{"op": "replace", "path": "title", "value": "x"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let id = app.create_user("p@example.com").await;
    for (ops, scim_type) in [
        (json!([{"op": "jump", "path": "title"}]), "invalidSyntax"),
        (json!([{"op": "remove"}]), "noTarget"),
        (json!([{"op": "replace", "path": "id", "value": "x"}]), "mutability"),
        (
            json!([{"op": "replace", "path": "meta.created", "value": "x"}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "name[x eq", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "urn:nope:1.0:User:thing", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"home\" or type eq \"other\"].value", "value": "x"}]),
            "noTarget",
        ),
    ] {
        let r = app.patch(&format!("/Users/{id}"), ops.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{ops}: {}", r.body);
        assert_eq!(r.body["scimType"], scim_type, "{ops}: {}", r.body);
    }
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = spawn_with(|c| c.server.max_body_bytes = 2048).await;
    let big = "x".repeat(4096);
    let r = app.post("/Users", json!({"userName": "big", "title": big})).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body["status"], "413");
    assert_eq!(app.get("/Users").await.body["totalResults"], 0, "nothing half-written");
}

#[tokio::test]
async fn deleted_resources_and_unknown_ids_are_404() {
    let app = spawn_app().await;
    let r = app.get("/Users/010101001010101011001010101011").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.body["detail"].as_str().unwrap_or_default().is_empty());
    assert_eq!(app.get("/Groups/00919288221112222").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.delete("/Groups/nope").await.status, StatusCode::NOT_FOUND);
}

/// PostgreSQL cannot store U+0000 in text: a client's NUL is a 400, not a 500, and SQLite
/// refuses it too (`hostile.rs` tries every place a client can put one).
#[tokio::test]
async fn a_nul_character_is_refused() {
    let app = spawn_app().await;
    let r = app.post("/Users", json!({"userName": "nul\u{0}@corp.example"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    let id = app.create_user("fine@corp.example").await;
    let r = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "title", "value": "x\u{0}"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}
