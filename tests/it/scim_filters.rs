use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn names(app: &TestApp, filter: &str) -> Vec<String> {
    let r = app.get(&format!("{}&count=100", filter_path("/Users", filter))).await;
    assert_eq!(r.status, StatusCode::OK, "{filter}: {}", r.body);
    let mut v: Vec<String> = r.body["Resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|u| u["userName"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

async fn seed(app: &TestApp) {
    let users = [
        json!({"userName": "alice@corp.example", "externalId": "E1", "displayName": "Alice Smith", "title": "Engineer", "active": true,
               "emails": [{"value": "alice@corp.example", "type": "work", "primary": true}, {"value": "alice@home.example", "type": "home"}],
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "employeeNumber": "100"}}),
        json!({"userName": "bob@corp.example", "externalId": "E2", "displayName": "Bob Jones", "title": "Manager", "active": false,
               "emails": [{"value": "bob@other.example", "type": "work"}],
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}}),
        json!({"userName": "carol@partner.example", "displayName": "Carol \"CJ\" Li", "active": true}),
    ];
    for u in users {
        let r = app.post("/Users", u).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
}

#[tokio::test]
async fn the_whole_filter_grammar_over_http() {
    let app = spawn_app().await;
    seed(&app).await;
    let all = vec![
        "alice@corp.example".to_string(),
        "bob@corp.example".into(),
        "carol@partner.example".into(),
    ];
    assert_eq!(
        names(&app, "userName co \"corp\"").await,
        vec!["alice@corp.example", "bob@corp.example"]
    );
    assert_eq!(names(&app, "userName sw \"ALICE\"").await, vec!["alice@corp.example"]);
    assert_eq!(names(&app, "userName ew \".example\"").await, all);
    assert_eq!(
        names(&app, "title pr").await,
        vec!["alice@corp.example", "bob@corp.example"]
    );
    assert_eq!(names(&app, "not (title pr)").await, vec!["carol@partner.example"]);
    assert_eq!(
        names(&app, "title ne \"Engineer\"").await,
        vec!["bob@corp.example", "carol@partner.example"]
    );
    assert_eq!(names(&app, "active eq false").await, vec!["bob@corp.example"]);
    assert_eq!(
        names(&app, "externalId eq \"E2\" or displayName eq \"alice smith\"").await,
        vec!["alice@corp.example", "bob@corp.example"]
    );
    assert!(
        names(&app, "externalId eq \"e2\"").await.is_empty(),
        "externalId is case-exact"
    );
    assert_eq!(
        names(&app, "emails[type eq \"work\" and value co \"@corp\"]").await,
        vec!["alice@corp.example"]
    );
    assert_eq!(
        names(&app, "emails.value ew \"home.example\"").await,
        vec!["alice@corp.example"]
    );
    assert_eq!(names(&app, "emails co \"other\"").await, vec!["bob@corp.example"]);
    assert_eq!(
        names(&app, "emails[type eq \"work\"].value eq \"bob@other.example\"").await,
        vec!["bob@corp.example"]
    );
    assert_eq!(
        names(
            &app,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"sales\""
        )
        .await,
        vec!["bob@corp.example"]
    );
    assert_eq!(
        names(
            &app,
            "(title eq \"Engineer\" or title eq \"Manager\") and active eq true"
        )
        .await,
        vec!["alice@corp.example"]
    );
    assert_eq!(
        names(&app, "displayName eq \"Carol \\\"CJ\\\" Li\"").await,
        vec!["carol@partner.example"]
    );
    assert_eq!(names(&app, "meta.created gt \"2000-01-01T00:00:00Z\"").await, all);
    assert!(
        names(&app, "meta.lastModified lt \"2000-01-01T00:00:00+08:00\"")
            .await
            .is_empty()
    );
    assert_eq!(
        names(&app, "USERNAME EQ \"BOB@CORP.EXAMPLE\"").await,
        vec!["bob@corp.example"]
    );
}

#[tokio::test]
async fn group_filters_and_membership_probes() {
    let app = spawn_app().await;
    let u = app.create_user("member@example.com").await;
    let g1 = app.create_group("Admins", &[&u]).await;
    app.create_group("Readers", &[]).await;
    let r = app
        .get(&filter_path(
            "/Groups",
            &format!("id eq \"{g1}\" and members[value eq \"{u}\"]"),
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    let r = app.get(&filter_path("/Groups", "members pr")).await;
    assert_eq!(r.body["totalResults"], 1);
    let r = app.get(&filter_path("/Groups", "displayName sw \"read\"")).await;
    assert_eq!(r.body["Resources"][0]["displayName"], "Readers");
    let r = app
        .get(&filter_path("/Users", &format!("groups.value eq \"{g1}\"")))
        .await;
    assert_eq!(r.body["totalResults"], 1);
}

#[tokio::test]
async fn sorting() {
    let app = spawn_app().await;
    seed(&app).await;
    let r = app.get("/Users?sortBy=displayName&sortOrder=descending").await;
    let order: Vec<Value> = r.body["Resources"]
        .as_array()
        .map(|a| a.iter().map(|u| u["displayName"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(
        order,
        vec![json!("Carol \"CJ\" Li"), json!("Bob Jones"), json!("Alice Smith")]
    );
    let r = app.get("/Users?sortBy=userName").await;
    assert_eq!(r.body["Resources"][0]["userName"], "alice@corp.example");
    assert_eq!(
        app.get("/Users?sortBy=userName&sortOrder=sideways").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn invalid_filters_are_400_invalid_filter() {
    let app = spawn_app().await;
    for f in [
        "userName eq",
        "userName xx \"a\"",
        "userName eq \"unterminated",
        "(userName eq \"a\"",
        "nosuchattribute eq \"a\"",
        "active gt true",
        "userName eq \"a\" and",
        "emails[type eq \"work\"",
        "password eq \"x\"",
    ] {
        let r = app.get(&filter_path("/Users", f)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{f}: {}", r.body);
        assert_eq!(r.body["scimType"], "invalidFilter", "{f}");
    }
    let deep = format!("{}userName eq \"a\"{}", "(".repeat(500), ")".repeat(500));
    let r = app.get(&filter_path("/Users", &deep)).await;
    assert_eq!(
        r.body["scimType"], "invalidFilter",
        "deep nesting is refused, not a stack overflow"
    );
}
