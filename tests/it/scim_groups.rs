use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

fn member_ids(body: &Value) -> Vec<String> {
    let mut v: Vec<String> = body["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn group_with_members_and_excluded_attributes() {
    let app = spawn_app().await;
    let u1 = app.create_user("m1@example.com").await;
    let u2 = app.create_user("m2@example.com").await;
    // Entra's group create carries an extra schema URN and meta.
    let r = app
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                   "externalId": "8aa1a0c0", "displayName": "Engineering", "meta": {"resourceType": "Group"},
                   "members": [{"value": u1, "display": "m1"}, {"value": u2, "$ref": null}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let gid = r.id();
    let mut expected = vec![u1.clone(), u2.clone()];
    expected.sort();
    assert_eq!(member_ids(&r.body), expected);
    let m = r.body["members"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["value"] == u1.as_str()).cloned())
        .expect("member");
    assert_eq!(
        m["display"], "m1@example.com",
        "display is the member's name as we know it"
    );
    assert_eq!(m["$ref"], format!("{}/Users/{u1}", app.scim));

    let slim = app.get(&format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert_eq!(slim.status, StatusCode::OK);
    assert!(slim.body.get("members").is_none());
    assert_eq!(slim.body["displayName"], "Engineering");
    let lookup = app
        .get(&format!(
            "{}&excludedAttributes=members",
            filter_path("/Groups", "displayName eq \"engineering\"")
        ))
        .await;
    assert_eq!(lookup.body["totalResults"], 1);
    assert!(lookup.body["Resources"][0].get("members").is_none());

    let user = app.get(&format!("/Users/{u1}")).await;
    assert_eq!(user.body["groups"][0]["value"], gid.as_str());
    assert_eq!(user.body["groups"][0]["display"], "Engineering");
    // The same through a list (groups loaded in the page's own statement), and left out when
    // not asked for.
    let listed = app.get(&filter_path("/Users", &format!("id eq \"{u1}\""))).await;
    assert_eq!(listed.body["Resources"][0]["groups"], user.body["groups"]);
    let listed = app
        .get(&format!(
            "{}&attributes=userName",
            filter_path("/Users", &format!("id eq \"{u1}\""))
        ))
        .await;
    assert!(listed.body["Resources"][0].get("groups").is_none());

    let dup = app.post("/Groups", json!({"displayName": "ENGINEERING"})).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.body["scimType"], "uniqueness");
}

#[tokio::test]
async fn patch_members_in_every_client_form() {
    let app = spawn_app().await;
    let u1 = app.create_user("p1@example.com").await;
    let u2 = app.create_user("p2@example.com").await;
    let u3 = app.create_user("p3@example.com").await;
    let gid = app.create_group("ops", &[]).await;
    let path = format!("/Groups/{gid}");

    // Okta: add plus remove in one request, then the rename that rides along.
    let r = app
        .patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": u1, "display": "p1"}, {"value": u2, "display": "p2"}]},
                              {"op": "remove", "path": format!("members[value eq \"{u2}\"]")}]))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .patch(
            &path,
            json!([{"op": "replace", "value": {"id": gid, "displayName": "Operations"}}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let g = app.get(&path).await;
    assert_eq!(g.body["displayName"], "Operations");
    assert_eq!(member_ids(&g.body), vec![u1.clone()], "a rename does not touch members");

    // Entra: Add with $ref null, Remove with a value array; both safe to repeat.
    for _ in 0..2 {
        let r = app
            .patch(
                &path,
                json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": u3}]}]),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    for _ in 0..2 {
        let r = app
            .patch(
                &path,
                json!([{"op": "Remove", "path": "members", "value": [{"value": u1}]}]),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    assert_eq!(member_ids(&app.get(&path).await.body), vec![u3.clone()]);

    // Okta "push now": replace with the full list, then with [].
    app.patch(
        &path,
        json!([{"op": "replace", "path": "members", "value": [{"value": u1}, {"value": u2}]}]),
    )
    .await;
    let mut both = vec![u1.clone(), u2.clone()];
    both.sort();
    assert_eq!(member_ids(&app.get(&path).await.body), both);
    let r = app
        .patch(&path, json!([{"op": "replace", "path": "members", "value": []}]))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path).await.body["members"], json!([]));

    // Unknown member: 400 and nothing changes.
    app.patch(
        &path,
        json!([{"op": "add", "path": "members", "value": [{"value": u1}]}]),
    )
    .await;
    let r = app
        .patch(
            &path,
            json!([{"op": "add", "path": "members", "value": [{"value": u2}, {"value": "no-such-user"}]}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["scimType"], "invalidValue");
    assert!(r.body["detail"].as_str().unwrap_or_default().contains("no-such-user"));
    assert_eq!(member_ids(&app.get(&path).await.body), vec![u1.clone()]);

    // Remove without value: every member goes.
    app.patch(&path, json!([{"op": "remove", "path": "members"}])).await;
    assert_eq!(app.get(&path).await.body["members"], json!([]));
}

#[tokio::test]
async fn bulk_membership_patch_of_5000() {
    let app = spawn_app().await;
    // Seed users directly through SCIM would take a while in debug builds; 5,000 creates over
    // HTTP is still the honest path and takes a few seconds.
    let mut ids = Vec::with_capacity(5000);
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..10 {
        let client = app.client.clone();
        let scim = app.scim.clone();
        let token = app.token.clone();
        tasks.spawn(async move {
            let mut out = Vec::new();
            for i in 0..500 {
                let r = client
                    .post(format!("{scim}/Users"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(json!({"userName": format!("bulk{chunk}-{i}@example.com")}).to_string())
                    .send()
                    .await
                    .expect("send");
                let v: Value = r.json().await.expect("json");
                out.push(v["id"].as_str().unwrap_or_default().to_string());
            }
            out
        });
    }
    while let Some(r) = tasks.join_next().await {
        ids.extend(r.expect("task"));
    }
    assert_eq!(ids.len(), 5000);
    let gid = app.create_group("everyone", &[]).await;
    let path = format!("/Groups/{gid}");
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let r = app
        .patch(&path, json!([{"op": "add", "path": "members", "value": members}]))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let g = app.get(&path).await;
    assert_eq!(g.body["members"].as_array().map(Vec::len), Some(5000));
    let adds = app
        .outbox()
        .await
        .into_iter()
        .find(|(k, _)| k == "member.sync")
        .map(|(_, n)| n);
    assert_eq!(adds, Some(5000), "one Identity Center operation per new membership");

    // Entra style: one op per member, 5,000 ops in one request.
    let ops: Vec<Value> = ids
        .iter()
        .map(|id| json!({"op": "Remove", "path": "members", "value": [{"value": id}]}))
        .collect();
    let r = app.patch(&path, Value::Array(ops)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path).await.body["members"], json!([]));
    // Removing them again is covered by the queued syncs: still one per membership.
    let syncs = app
        .outbox()
        .await
        .into_iter()
        .find(|(k, _)| k == "member.sync")
        .map(|(_, n)| n);
    assert_eq!(syncs, Some(5000), "a queued membership sync covers the later removal");
}

#[tokio::test]
async fn deleting_a_user_removes_its_memberships_and_put_replaces_members() {
    let app = spawn_app().await;
    let u1 = app.create_user("d1@example.com").await;
    let u2 = app.create_user("d2@example.com").await;
    let gid = app.create_group("temp", &[&u1, &u2]).await;
    app.delete(&format!("/Users/{u1}")).await;
    assert_eq!(
        member_ids(&app.get(&format!("/Groups/{gid}")).await.body),
        vec![u2.clone()]
    );
    // Okta AIW: PUT of the whole group renames and sets members.
    let r = app
        .put(
            &format!("/Groups/{gid}"),
            json!({"displayName": "Temp Team", "members": []}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["displayName"], "Temp Team");
    assert_eq!(r.body["members"], json!([]));
    assert_eq!(
        app.delete(&format!("/Groups/{gid}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&format!("/Groups/{gid}")).await.status, StatusCode::NOT_FOUND);
}
