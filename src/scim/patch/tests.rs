use super::*;
use crate::scim::ScimType;
use serde_json::json;

fn user() -> Map<String, Value> {
    json!({
        "userName": "ada@example.com",
        "active": true,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

fn patch(kind: ResourceKind, doc: &Map<String, Value>, body: Value) -> Result<PatchOutcome, ScimError> {
    let ops = parse_request(&body)?;
    apply(kind, "rid", doc, &ops)
}

fn ops(list: Value) -> Value {
    json!({"schemas": [schema::PATCH_OP_SCHEMA], "Operations": list})
}

#[test]
fn op_names_in_any_case_and_string_booleans() {
    let out = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "Replace", "path": "active", "value": "False"}])),
    )
    .expect("ok");
    assert_eq!(out.doc["active"], false);
    let out = patch(
        ResourceKind::User,
        &out.doc,
        ops(json!([{"op": "ADD", "path": "active", "value": "True"}])),
    )
    .expect("ok");
    assert_eq!(out.doc["active"], true);
}

#[test]
fn pathless_replace_touches_only_named_keys() {
    let out = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .expect("ok");
    assert_eq!(out.doc["active"], false);
    assert_eq!(out.doc["name"]["givenName"], "Ada");
    assert_eq!(out.doc["emails"][0]["value"], "ada@example.com");
}

#[test]
fn pathless_dotted_and_urn_keys_expand() {
    let out = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "replace", "value": {
            "name.givenName": "Augusta",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"costCenter": "CC1"}
        }}])),
    )
    .expect("ok");
    assert_eq!(out.doc["name"]["givenName"], "Augusta");
    assert_eq!(out.doc["name"]["familyName"], "Lovelace");
    let ext = &out.doc[schema::ENTERPRISE_USER_SCHEMA];
    assert_eq!(ext["employeeNumber"], "42");
    assert_eq!(ext["costCenter"], "CC1");
    assert_eq!(ext["department"], "R&D");
    assert!(!out.doc.contains_key("name.givenName"));
}

#[test]
fn filtered_email_path_replaces_or_creates() {
    let out = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada@new.example"}])),
    )
    .expect("ok");
    assert_eq!(out.doc["emails"][0]["value"], "ada@new.example");
    assert_eq!(out.doc["emails"].as_array().map(Vec::len), Some(1));
    let out = patch(
        ResourceKind::User,
        &out.doc,
        ops(json!([{"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"}])),
    )
    .expect("creates the missing element");
    assert_eq!(out.doc["phoneNumbers"], json!([{"type": "mobile", "value": "+1 555"}]));
}

#[test]
fn manager_as_bare_string() {
    let out = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "mgr-1"}])),
    )
    .expect("ok");
    assert_eq!(out.doc[schema::ENTERPRISE_USER_SCHEMA]["manager"]["value"], "mgr-1");
}

#[test]
fn remove_needs_path_and_readonly_is_refused() {
    let e = patch(ResourceKind::User, &user(), ops(json!([{"op": "remove"}]))).expect_err("error");
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    let e = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "replace", "path": "id", "value": "x"}])),
    )
    .expect_err("error");
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    let e = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "replace", "path": "nosuch.thing", "value": "x"}])),
    )
    .expect_err("error");
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "remove", "path": "userName"}])),
    )
    .expect_err("error");
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn failure_leaves_nothing_half_applied() {
    let doc = user();
    let res = patch(
        ResourceKind::User,
        &doc,
        ops(
            json!([{"op": "replace", "path": "displayName", "value": "X"}, {"op": "replace", "path": "active", "value": "perhaps"}]),
        ),
    );
    assert!(res.is_err());
    assert!(!doc.contains_key("displayName"));
}

#[test]
fn members_three_removal_forms_and_replace() {
    let g = json!({"displayName": "eng"}).as_object().cloned().unwrap_or_default();
    let out = patch(
        ResourceKind::Group,
        &g,
        ops(json!([
            {"op": "add", "path": "members", "value": [{"value": "u1", "display": "a"}, {"value": "u2", "$ref": null}]},
            {"op": "remove", "path": "members[value eq \"u1\"]"},
            {"op": "Remove", "path": "members", "value": [{"value": "u2"}]},
            {"op": "replace", "path": "members", "value": []}
        ])),
    )
    .expect("ok");
    assert_eq!(
        out.member_edits,
        vec![
            MemberEdit::Add(vec!["u1".into(), "u2".into()]),
            MemberEdit::Remove(vec!["u1".into(), "u2".into()]),
            MemberEdit::Replace(vec![])
        ]
    );
}

#[test]
fn okta_rename_with_id_does_not_touch_members() {
    let g = json!({"displayName": "eng"}).as_object().cloned().unwrap_or_default();
    let out = patch(
        ResourceKind::Group,
        &g,
        ops(json!([{"op": "replace", "value": {"id": "rid", "displayName": "Engineering"}}])),
    )
    .expect("ok");
    assert_eq!(out.doc["displayName"], "Engineering");
    assert!(out.member_edits.is_empty());
    let e = patch(
        ResourceKind::Group,
        &g,
        ops(json!([{"op": "replace", "value": {"id": "other", "displayName": "x"}}])),
    )
    .err();
    assert_eq!(e.and_then(|e| e.scim_type), Some(ScimType::Mutability));
}

#[test]
fn repeated_add_is_idempotent_for_multivalued() {
    let add = ops(json!([{"op": "add", "path": "emails", "value": [{"value": "x@y.z", "type": "home"}]}]));
    let once = patch(ResourceKind::User, &user(), add.clone()).expect("ok");
    let twice = patch(ResourceKind::User, &once.doc, add).expect("ok");
    assert_eq!(once.doc, twice.doc);
    assert_eq!(twice.doc["emails"].as_array().map(Vec::len), Some(2));
}

#[test]
fn single_primary_survives() {
    let out = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "add", "path": "emails", "value": [{"value": "b@y.z", "type": "home", "primary": true}]}])),
    )
    .expect("ok");
    let primaries = out.doc["emails"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["primary"] == true).count());
    assert_eq!(primaries, Some(1));
}

#[test]
fn bad_bodies_are_invalid_syntax() {
    for body in [
        json!([]),
        json!({"Operations": []}),
        json!({"Operations": [{"op": "move", "path": "x"}]}),
        json!({"schemas": ["x"], "Operations": [{"op": "add"}]}),
    ] {
        let e = parse_request(&body).expect_err("error");
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax), "{body}");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn attr_path() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("title".to_string()),
            Just("displayName".to_string()),
            Just("nickName".to_string()),
            Just("name.givenName".to_string()),
            Just("NAME.familyName".to_string()),
            Just("active".to_string()),
            Just("emails".to_string()),
            Just("emails[type eq \"work\"].value".to_string()),
            Just("phoneNumbers[type eq \"mobile\"].value".to_string()),
            Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department".to_string()),
            Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager".to_string()),
            Just("id".to_string()),
            Just("meta.created".to_string()),
            Just("x[".to_string()),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            "[a-z]{0,6}".prop_map(Value::String),
            any::<bool>().prop_map(Value::Bool),
            Just(json!("False")),
            Just(json!(null)),
            Just(json!(7)),
            Just(json!({"givenName": "G"})),
            Just(json!([{"value": "e@x.y", "type": "home"}])),
        ]
    }

    fn op() -> impl Strategy<Value = Value> {
        (
            prop_oneof![Just("add"), Just("Replace"), Just("remove"), Just("REMOVE")],
            proptest::option::of(attr_path()),
            proptest::option::of(value()),
        )
            .prop_map(|(op, path, value)| {
                let mut o = json!({"op": op});
                if let Some(p) = path {
                    o["path"] = json!(p);
                }
                if let Some(v) = value {
                    o["value"] = v;
                }
                o
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Any operation list either fails with a 400 and no change, or yields a document that
        /// still has its userName and normalises to itself (nothing half-applied, no panic).
        #[test]
        fn never_panics_and_results_are_canonical(list in proptest::collection::vec(op(), 1..6)) {
            let doc = user();
            match patch(ResourceKind::User, &doc, ops(Value::Array(list))) {
                Ok(out) => {
                    prop_assert!(out.doc.get("userName").and_then(Value::as_str).is_some());
                    let renormalized = model::normalize(ResourceKind::User, &Value::Object(out.doc.clone()));
                    prop_assert_eq!(renormalized.map(|n| n.doc), Ok(out.doc));
                }
                Err(e) => prop_assert_eq!(e.status, 400),
            }
        }

        /// Adding values twice is the same as adding them once.
        #[test]
        fn add_is_idempotent(path in attr_path(), v in value()) {
            let body = ops(json!([{"op": "add", "path": path, "value": v}]));
            if let Ok(once) = patch(ResourceKind::User, &user(), body.clone()) {
                let twice = patch(ResourceKind::User, &once.doc, body).expect("second add succeeds like the first");
                prop_assert_eq!(once.doc, twice.doc);
            }
        }

        /// A path-less replace changes only the keys it names.
        #[test]
        fn pathless_replace_is_local(title in "[a-z]{1,8}") {
            let out = patch(ResourceKind::User, &user(), ops(json!([{"op": "replace", "value": {"title": title.clone()}}]))).expect("ok");
            let mut expected = user();
            expected.insert("title".into(), json!(title));
            prop_assert_eq!(out.doc, expected);
        }
    }
}

#[test]
fn extension_urn_as_path_adds_replaces_and_removes_the_whole_extension() {
    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let out = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "add", "path": ENT, "value": {"employeeNumber": "42", "manager": {"value": "m-1"}}}])),
    )
    .expect("ok");
    assert_eq!(out.doc[ENT]["employeeNumber"], "42");
    assert_eq!(out.doc[ENT]["manager"]["value"], "m-1");
    assert_eq!(out.doc[ENT]["department"], "R&D", "add merges into the extension");
    let out = patch(
        ResourceKind::User,
        &out.doc,
        ops(json!([{"op": "replace", "path": ENT, "value": {"department": "Ops"}}])),
    )
    .expect("ok");
    assert_eq!(out.doc[ENT]["department"], "Ops");
    assert_eq!(out.doc[ENT]["employeeNumber"], "42");
    let out = patch(
        ResourceKind::User,
        &out.doc,
        ops(json!([{"op": "remove", "path": ENT}])),
    )
    .expect("ok");
    assert!(!out.doc.contains_key(ENT));
    let e = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "add", "path": ENT, "value": "x"}])),
    )
    .err();
    assert_eq!(e.map(|e| e.scim_type), Some(Some(ScimType::InvalidValue)));
}

#[test]
fn removing_active_leaves_it_unassigned() {
    let out = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "remove", "path": "active"}])),
    )
    .expect("ok");
    assert!(!out.doc.contains_key("active"));
}

#[test]
fn a_password_is_dropped_and_never_shown_by_debug() {
    let secret = "Hunter2-patch-secret";
    let body = json!({"schemas": [schema::PATCH_OP_SCHEMA], "Operations": [
        {"op": "replace", "path": "password", "value": secret},
        {"op": "replace", "value": {"password": secret, "title": "T"}},
        {"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:password", "value": secret},
    ]});
    let parsed = parse_request(&body).expect("parses");
    assert!(!format!("{parsed:?}").contains(secret), "{parsed:?}");
    assert!(!format!("{:#?}", parsed[1]).contains(secret));
    let out = apply(ResourceKind::User, "u1", &user(), &parsed).expect("applies");
    assert!(!serde_json::to_string(&out.doc).unwrap().contains(secret));
    assert!(!format!("{out:?}").contains(secret));
}
