//! Attribute limits (issue 16): a value past a bound is refused with 400 `invalidValue`
//! naming the attribute and its limit, and nothing is stored.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_with};

fn user(name: &str, extra: Value) -> Value {
    let mut u = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "active": true
    });
    for (k, v) in extra.as_object().unwrap() {
        u[k] = v.clone();
    }
    u
}

fn refused(r: &crate::helpers::Resp, attribute: &str, limit: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue", "{}", r.body);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with(attribute) && detail.contains(limit),
        "the detail names {attribute} and {limit}: {detail}"
    );
}

async fn users(app: &TestApp) -> u64 {
    app.get("/Users?count=0").await.body["totalResults"].as_u64().unwrap()
}

#[tokio::test]
async fn a_two_megabyte_display_name_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/Users",
            user("big@corp.example", json!({"displayName": "x".repeat(2 << 20)})),
        )
        .await;
    refused(&r, "displayName", "4096");
    assert_eq!(users(&app).await, 0, "nothing stored");

    // The same bound holds in nested, multi-valued and extension attributes, and on PUT and
    // PATCH; the resource keeps what it had.
    let id = app.create_user("ada@corp.example").await;
    let long = "y".repeat(5000);
    let r = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "name.givenName", "value": long}]),
        )
        .await;
    refused(&r, "name.givenName", "4096");
    let r = app
        .put(
            &format!("/Users/{id}"),
            user(
                "ada@corp.example",
                json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": long}}),
            ),
        )
        .await;
    refused(
        &r,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "4096",
    );
    let emails: Vec<Value> = (0..101)
        .map(|i| json!({"value": format!("a{i}@corp.example")}))
        .collect();
    let r = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "add", "path": "emails", "value": emails}]),
        )
        .await;
    refused(&r, "emails", "100");
    let got = app.get(&format!("/Users/{id}")).await.body;
    assert_eq!(got["name"]["givenName"], "Given", "unchanged: {got}");
    assert_eq!(got["emails"].as_array().map(Vec::len), Some(1), "{got}");

    // An email Identity Center would have to drop is refused up front.
    let r = app
        .post(
            "/Users",
            user(
                "long-mail@corp.example",
                json!({"emails": [{"value": format!("{}@corp.example", "m".repeat(120)), "primary": true}]}),
            ),
        )
        .await;
    refused(&r, "emails", "128");
    assert_eq!(users(&app).await, 1);
}

#[tokio::test]
async fn members_per_request_are_bounded_and_the_bounds_are_configurable() {
    let app = spawn_with(|c| {
        c.scim.max_members_per_request = 3;
        c.scim.max_attribute_bytes = 300;
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(app.create_user(&format!("m{i}@corp.example")).await);
    }
    let members: Vec<Value> = ids.iter().map(|i| json!({"value": i})).collect();
    let r = app
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "big", "members": members}),
        )
        .await;
    refused(&r, "members", "3");
    assert_eq!(app.get("/Groups?count=0").await.body["totalResults"], 0);
    let g = app.create_group("small", &[&ids[0]]).await;
    let r = app
        .patch(
            &format!("/Groups/{g}"),
            json!([{"op": "add", "path": "members", "value": members}]),
        )
        .await;
    refused(&r, "members", "3");
    let got = app.get(&format!("/Groups/{g}")).await.body;
    assert_eq!(got["members"].as_array().map(Vec::len), Some(1), "unchanged: {got}");
    let r = app
        .patch(
            &format!("/Groups/{g}"),
            json!([{"op": "add", "path": "members", "value": members[1..4].to_vec()}]),
        )
        .await;
    assert_eq!(r.status.as_u16() / 100, 2, "three is within the bound: {}", r.body);
    let r = app
        .post(
            "/Users",
            user("w@corp.example", json!({"displayName": "z".repeat(301)})),
        )
        .await;
    refused(&r, "displayName", "300");
}
