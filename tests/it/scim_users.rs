use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn create_returns_resource_location_and_hides_password() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "userName": "ada@example.com", "externalId": "00u1", "password": "S3cret!pass", "groups": [], "locale": "en-US",
                "name": {"givenName": "Ada", "familyName": "Lovelace"},
                "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
                "phoneNumbers": [{"value": "+44 20 7946 0000", "type": "work"}],
                "title": "Countess", "active": true,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Analytical Engines", "manager": {"value": "m1"}},
                "favouriteEngine": "difference"
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/scim+json");
    let id = r.id();
    assert!(!id.is_empty());
    let location = r.headers["location"].to_str().expect("location");
    assert_eq!(location, format!("{}/Users/{id}", app.scim));
    assert_eq!(r.body["meta"]["location"], location);
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert!(r.headers["etag"].to_str().expect("etag").starts_with("W/\""));
    assert!(r.body.get("password").is_none(), "password is never returned");
    assert_eq!(r.body["favouriteEngine"], "difference", "unmapped attributes are kept");
    let schemas = r.body["schemas"].as_array().expect("schemas");
    assert!(schemas.contains(&json!("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")));

    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.body, r.body, "GET returns what POST returned");
    assert_eq!(
        g.body["phoneNumbers"][0]["value"], "+44 20 7946 0000",
        "values stored exactly as sent"
    );
    assert_eq!(
        g.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Analytical Engines"
    );
}

#[tokio::test]
async fn user_name_is_unique_case_insensitively_and_filter_finds_any_case() {
    let app = spawn_app().await;
    let id = app.create_user("Grace.Hopper@example.com").await;
    let dup = app
        .post("/Users", json!({"userName": "grace.hopper@EXAMPLE.com"}))
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.body["scimType"], "uniqueness");
    assert_eq!(dup.body["status"], "409");
    assert!(dup.body["detail"].as_str().unwrap_or_default().contains("userName"));

    let found = app
        .get(&filter_path("/Users", "userName eq \"GRACE.HOPPER@EXAMPLE.COM\""))
        .await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(found.body["Resources"][0]["id"], id.as_str());

    // Entra's Test Connection: a random userName must give 200 with an empty list.
    let none = app
        .get(&filter_path(
            "/Users",
            "userName eq \"3f2504e0-4f89-11d3-9a0c-0305e82c3301\"",
        ))
        .await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.body["totalResults"], 0);
    assert_eq!(none.body["Resources"], json!([]));
    assert_eq!(
        none.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
}

#[tokio::test]
async fn paging_is_stable_one_based_and_counts_are_integers() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(app.create_user(&format!("user{i:02}@example.com")).await);
    }
    let mut seen = Vec::new();
    let mut start = 1;
    while start <= 25 {
        let page = app.get(&format!("/Users?startIndex={start}&count=10")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.body["totalResults"], 25);
        assert_eq!(page.body["startIndex"], start);
        let items = page.body["Resources"].as_array().expect("resources");
        assert_eq!(page.body["itemsPerPage"], items.len());
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap_or_default().to_string()));
        start += 10;
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "every user exactly once, in a stable order");

    let zero = app.get("/Users?count=0").await;
    assert_eq!(zero.body["totalResults"], 25);
    assert_eq!(zero.body["Resources"], json!([]));
    let clamped = app.get("/Users?startIndex=-4&count=-1").await;
    assert_eq!(clamped.status, StatusCode::OK);
    assert_eq!(clamped.body["startIndex"], 1);
    assert_eq!(clamped.body["itemsPerPage"], 0);
    let beyond = app.get("/Users?startIndex=100").await;
    assert_eq!(beyond.body["totalResults"], 25);
    assert_eq!(beyond.body["itemsPerPage"], 0);
    let bad = app.get("/Users?count=ten").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn max_page_size_caps_count() {
    let app = spawn_with(|c| {
        c.scim.max_page_size = 3;
        c.scim.default_page_size = 2;
    })
    .await;
    for i in 0..5 {
        app.create_user(&format!("u{i}")).await;
    }
    let spc = app.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["filter"]["maxResults"], 3);
    assert_eq!(app.get("/Users?count=100").await.body["itemsPerPage"], 3);
    assert_eq!(app.get("/Users").await.body["itemsPerPage"], 2);
}

#[tokio::test]
async fn okta_get_then_put_round_trip_and_put_replaces() {
    let app = spawn_app().await;
    let id = app.create_user("okta.user@example.com").await;
    let got = app.get(&format!("/Users/{id}")).await;
    let mut body = got.body.clone();
    body["groups"] = json!([]);
    body["password"] = json!("whatever-1");
    let put = app.put(&format!("/Users/{id}"), body).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(
        put.body["meta"]["version"], got.body["meta"]["version"],
        "an unchanged PUT does not bump the version"
    );

    let put = app
        .put(
            &format!("/Users/{id}"),
            json!({"userName": "okta.user@example.com", "active": false, "title": "Admiral"}),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(put.body["active"], false);
    assert_eq!(put.body["title"], "Admiral");
    assert!(
        put.body.get("emails").is_none(),
        "PUT replaces: attributes left out are cleared"
    );
    assert_ne!(put.body["meta"]["version"], got.body["meta"]["version"]);

    let no_name = app.put(&format!("/Users/{id}"), json!({"active": true})).await;
    assert_eq!(no_name.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_name.body["scimType"], "invalidValue");
    let missing = app
        .put("/Users/010101001010101011001010101011", json!({"userName": "x"}))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn patch_deactivation_in_okta_and_entra_forms() {
    let app = spawn_app().await;
    let id = app.create_user("entra@example.com").await;
    let path = format!("/Users/{id}");
    let r = app
        .patch(&path, json!([{"op": "replace", "value": {"active": false}}]))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path).await.body["active"], false);
    let r = app
        .patch(&path, json!([{"op": "Replace", "path": "active", "value": "True"}]))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let u = app.get(&path).await;
    assert_eq!(u.body["active"], true);
    assert_eq!(
        u.body["name"]["givenName"], "Given",
        "a path-less replace touches only the named keys"
    );

    // Entra with aadOptscim062020: one path-less replace with dotted and URN keys.
    let r = app
        .request(
            Method::PATCH,
            &format!("{path}?attributes=name,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"),
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {
                "name.givenName": "Kim", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "A-7"}}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "asking for attributes returns the resource");
    assert_eq!(r.body["name"]["givenName"], "Kim");
    assert_eq!(
        r.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "A-7"
    );
    assert!(r.body.get("emails").is_none(), "projection applies");

    let r = app
        .patch(
            &path,
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path).await.body["emails"][0]["value"], "new@example.com");
}

#[tokio::test]
async fn patch_is_atomic_and_if_match_is_enforced() {
    let app = spawn_app().await;
    let id = app.create_user("atomic@example.com").await;
    let path = format!("/Users/{id}");
    let before = app.get(&path).await;
    let r = app
        .patch(&path, json!([{"op": "replace", "path": "title", "value": "Boss"}, {"op": "replace", "path": "active", "value": "sometimes"}]))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["scimType"], "invalidValue");
    let after = app.get(&path).await;
    assert_eq!(after.body, before.body, "a failed PATCH changes nothing");

    let stale = app
        .client
        .patch(format!("{}{path}", app.scim))
        .bearer_auth(&app.token)
        .header("If-Match", "W/\"999\"")
        .header("content-type", "application/scim+json")
        .body(json!({"Operations": [{"op": "replace", "path": "title", "value": "X"}]}).to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let etag = before.headers["etag"].to_str().expect("etag").to_string();
    let fresh = app
        .client
        .patch(format!("{}{path}", app.scim))
        .bearer_auth(&app.token)
        .header("If-Match", etag)
        .header("content-type", "application/json")
        .body(json!({"Operations": [{"op": "replace", "path": "title", "value": "X"}]}).to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(fresh.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn delete_then_404_and_tenants_are_isolated() {
    let app = spawn_app().await;
    let id = app.create_user("shared-name@example.com").await;
    let other = app
        .request_as(TOKEN_B, Method::GET, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "tenant b cannot read tenant a's user"
    );
    let other_list = app.request_as(TOKEN_B, Method::GET, "/Users", None).await;
    assert_eq!(other_list.body["totalResults"], 0);
    let del = app
        .request_as(TOKEN_B, Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(del.status, StatusCode::NOT_FOUND, "nor delete it");
    let same_name = app
        .request_as(
            TOKEN_B,
            Method::POST,
            "/Users",
            Some(json!({"userName": "shared-name@example.com"})),
        )
        .await;
    assert_eq!(same_name.status, StatusCode::CREATED, "userName is unique per tenant");

    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, StatusCode::NO_CONTENT);
    let gone = app.get(&format!("/Users/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn writes_record_identity_center_operations_in_the_same_transaction() {
    let app = spawn_app().await;
    let u = app.create_user("outbox@example.com").await;
    app.patch(
        &format!("/Users/{u}"),
        json!([{"op": "replace", "path": "title", "value": "T"}]),
    )
    .await;
    let g = app.create_group("outbox-group", &[&u]).await;
    app.delete(&format!("/Users/{u}")).await;
    app.delete(&format!("/Groups/{g}")).await;
    let ops = app.outbox().await;
    // State-based operations: the title change is carried by the queued user sync, and the
    // deletes supersede the queued syncs of the user and the group.
    let expect: Vec<(String, i64)> = [("group.delete", 1), ("member.sync", 1), ("user.delete", 1)]
        .iter()
        .map(|(k, n)| (k.to_string(), *n))
        .collect();
    assert_eq!(ops, expect);
    // A rejected write records nothing.
    let dup = app.post("/Users", json!({"userName": "x"})).await;
    assert_eq!(dup.status, StatusCode::CREATED);
    let again = app.post("/Users", json!({"userName": "X"})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let syncs = app
        .outbox()
        .await
        .into_iter()
        .find(|(k, _)| k == "user.sync")
        .map(|(_, n)| n);
    assert_eq!(syncs, Some(1));
}

#[tokio::test]
async fn graceful_stop() {
    let app = spawn_app().await;
    app.create_user("bye@example.com").await;
    app.stop().await;
}

#[tokio::test]
async fn concurrent_creates_commit_together_and_duplicates_fail_alone() {
    let app = std::sync::Arc::new(spawn_app().await);
    // 40 creates at once, two per name (one differing in case): creates waiting together are
    // committed in one transaction, each in its own savepoint.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let name = if i % 2 == 0 {
                format!("burst{}@example.com", i / 2)
            } else {
                format!("BURST{}@example.com", i / 2)
            };
            app.post("/Users", json!({"userName": name})).await.status
        }));
    }
    let mut created = 0;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => conflicts += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((created, conflicts), (20, 20));
    let all = app.get("/Users?filter=userName%20sw%20%22burst%22&count=100").await;
    assert_eq!(all.body["totalResults"], 20);
    // Every stored user has its one queued sync, none for the refused ones.
    let syncs = app
        .outbox()
        .await
        .into_iter()
        .find(|(k, _)| k == "user.sync")
        .map(|(_, n)| n);
    assert_eq!(syncs, Some(20));
}

/// A transaction of "the engine" that saves a user's link and stays open until `commit`:
/// on SQLite it holds the database's write lock, on PostgreSQL the user's row (as the engine's
/// link save does).
enum LinkSave {
    Sqlite(sqlx::SqliteConnection),
    Pg(sqlx::PgConnection),
}

impl LinkSave {
    async fn begin(url: &str, user: &str, cic_name: &str) -> LinkSave {
        use sqlx::Connection;
        let insert = |p: &str| {
            format!(
                "INSERT INTO cic_links (tenant, kind, scim_id, cic_id, cic_name, synced, created_at, updated_at) \
                 VALUES ('a', 'user', {p}1, {p}2, {p}3, '{{}}', '2030-01-01T00:00:00.000000Z', '2030-01-01T00:00:00.000000Z')"
            )
        };
        if crate::db::is_postgres() {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut c).await.unwrap();
            sqlx::query("SELECT 1 FROM scim_users WHERE tenant = 'a' AND id = $1 FOR UPDATE")
                .bind(user)
                .execute(&mut c)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(insert("$")))
                .bind(user)
                .bind(format!("u-{user}"))
                .bind(cic_name)
                .execute(&mut c)
                .await
                .unwrap();
            LinkSave::Pg(c)
        } else {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE").execute(&mut c).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(insert("?")))
                .bind(user)
                .bind(format!("u-{user}"))
                .bind(cic_name)
                .execute(&mut c)
                .await
                .unwrap();
            LinkSave::Sqlite(c)
        }
    }

    async fn commit(self) {
        match self {
            LinkSave::Sqlite(mut c) => {
                sqlx::query("COMMIT").execute(&mut c).await.unwrap();
            }
            LinkSave::Pg(mut c) => {
                sqlx::query("COMMIT").execute(&mut c).await.unwrap();
            }
        }
    }
}

/// Issue 13 item 5: with `on_username_change = "reject"`, whether the user is in Identity
/// Center is decided in the transaction that applies the rename. Here the engine's link save
/// commits while the rename waits for its transaction (on SQLite behind a create holding the
/// one writer connection, on PostgreSQL behind the user's row lock): a check made before the
/// transaction saw no link and let the rename through.
#[tokio::test]
async fn a_rename_checks_the_link_inside_its_write_transaction() {
    use std::time::Duration;
    let app = spawn_with(|c| c.tenants[0].on_username_change = cic_bridge::config::OnUsernameChange::Reject).await;
    for (i, method) in [Method::PATCH, Method::PUT].into_iter().enumerate() {
        let name = format!("fixed{i}@corp.example");
        let u = app.create_user(&name).await;
        let save = LinkSave::begin(&app.db_url, &u, &name).await;
        let blocker = app.post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("blocker{i}@corp.example")}),
        );
        let rename = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let moved = format!("moved{i}@corp.example");
            let body = if method == Method::PATCH {
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": "userName", "value": moved}]})
            } else {
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": moved})
            };
            app.request(method.clone(), &format!("/Users/{u}"), Some(body)).await
        };
        let commit = async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            save.commit().await;
        };
        let (_, r, ()) = tokio::join!(blocker, rename, commit);
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method}: {}", r.body);
        assert_eq!(r.body["scimType"], "mutability", "{method}");
        assert_eq!(app.get(&format!("/Users/{u}")).await.body["userName"], name.as_str());
    }
}
