use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn service_provider_config_resource_types_and_schemas() {
    let app = spawn_app().await;
    let spc = app.get("/ServiceProviderConfig").await;
    assert_eq!(spc.status, StatusCode::OK);
    assert_eq!(spc.headers["content-type"], "application/scim+json");
    assert_eq!(spc.body["patch"]["supported"], true);
    assert_eq!(spc.body["bulk"]["supported"], false);
    assert_eq!(spc.body["filter"]["supported"], true);
    assert_eq!(spc.body["filter"]["maxResults"], 1000);
    assert_eq!(spc.body["etag"]["supported"], true);
    assert_eq!(spc.body["authenticationSchemes"][0]["type"], "oauthbearertoken");

    let rts = app.get("/ResourceTypes").await;
    assert_eq!(rts.body["totalResults"], 2);
    let user = app.get("/ResourceTypes/User").await;
    assert_eq!(user.body["endpoint"], "/Users");
    assert_eq!(
        user.body["schemaExtensions"][0],
        json!({"schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "required": false})
    );

    let schemas = app.get("/Schemas").await;
    assert_eq!(
        schemas.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    assert_eq!(schemas.body["totalResults"], 3);
    let u = app.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await;
    assert_eq!(u.status, StatusCode::OK);
    let attrs = u.body["attributes"].as_array().expect("attributes");
    let user_name = attrs.iter().find(|a| a["name"] == "userName").expect("userName");
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["required"], true);
    let password = attrs.iter().find(|a| a["name"] == "password").expect("password");
    assert_eq!(password["returned"], "never");
    let emails = attrs.iter().find(|a| a["name"] == "emails").expect("emails");
    assert!(
        emails["subAttributes"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x["name"] == "primary"))
    );
    assert_eq!(app.get("/Schemas/urn:nope").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unsupported_endpoints_and_routing_tolerance() {
    let app = spawn_app().await;
    assert_eq!(app.post("/Bulk", json!({})).await.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(app.get("/Me").await.status, StatusCode::NOT_IMPLEMENTED);
    let nf = app.get("/Nothing").await;
    assert_eq!(nf.status, StatusCode::NOT_FOUND);
    assert_eq!(nf.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    // Microsoft's collection sends `/Users/?filter=…`; Entra appends `?aadOptscim062020`.
    app.create_user("slash@example.com").await;
    let r = app
        .get(&format!("/Users/?filter={}", enc("userName eq \"slash@example.com\"")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["totalResults"], 1);
    let r = app.get("/Users?aadOptscim062020").await;
    assert_eq!(r.status, StatusCode::OK);
    // `+` for spaces in the query string.
    let r = app.get("/Users?filter=userName+eq+%22slash%40example.com%22").await;
    assert_eq!(r.body["totalResults"], 1);
}

#[tokio::test]
async fn health_endpoints_are_open() {
    let app = spawn_app().await;
    let h = app
        .client
        .get(format!("{}/healthz", app.root))
        .send()
        .await
        .expect("send");
    assert_eq!(h.status(), StatusCode::OK);
    let r = app
        .client
        .get(format!("{}/readyz", app.root))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
}
