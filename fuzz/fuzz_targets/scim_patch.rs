//! A PATCH request body (RFC 7644 §3.5.2) as `PATCH /Users/{id}` and `PATCH /Groups/{id}`
//! handle it: parsed into operations, applied by the PATCH engine to stored documents (what
//! `Provisioner::patch` hands to the store), then what follows a successful PATCH: the member
//! edits the store runs (filtered removals evaluated on a member element), the Identity Center
//! fields the engine derives, and the rendered resource.
#![no_main]

use cic_bridge::engine::mapping;
use cic_bridge::scim::filter;
use cic_bridge::scim::model::{self, Meta};
use cic_bridge::scim::patch::{self, MemberEdit, PatchOp};
use cic_bridge::scim::schema::{self, ResourceKind};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

const USER_ID: &str = "5b7a9d1e-0000-4000-8000-000000000001";
const GROUP_ID: &str = "5b7a9d1e-0000-4000-8000-000000000002";

fuzz_target!(|data: &[u8]| {
    // `read_json` in the handlers: any bytes, parsed as JSON or refused.
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(ops) = patch::parse_request(&body) else { return };
    for doc in [rich_user(), stored(ResourceKind::User, json!({"userName": "bob"}))] {
        apply(ResourceKind::User, USER_ID, &doc, &ops);
    }
    apply(
        ResourceKind::Group,
        GROUP_ID,
        &stored(ResourceKind::Group, json!({"displayName": "Finance Admins"})),
        &ops,
    );
});

fn apply(kind: ResourceKind, id: &str, doc: &Map<String, Value>, ops: &[PatchOp]) {
    let Ok(outcome) = patch::apply(kind, id, doc, ops) else {
        return;
    };
    match kind {
        ResourceKind::User => {
            assert!(
                outcome.member_edits.is_empty(),
                "member edits on a user: {:?}",
                outcome.member_edits
            );
            let name = outcome.doc.get("userName").and_then(Value::as_str).unwrap_or_default();
            if mapping::user_name_problem(name).is_none() {
                let _ = mapping::user_fields(&outcome.doc, "corp", id);
            }
        }
        ResourceKind::Group => {
            let name = outcome
                .doc
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let _ = mapping::group_fields(name, "corp", id);
            let Some(parent) = schema::resolve(ResourceKind::Group, None, "members", None) else {
                return;
            };
            let element = json!({"value": USER_ID, "display": "Ann Smith", "type": "User"});
            for edit in &outcome.member_edits {
                if let MemberEdit::RemoveWhere(f) = edit {
                    let _ = filter::matches_element(f, ResourceKind::Group, &parent, &element);
                }
            }
        }
    }
    let meta = Meta {
        id,
        created: "2024-01-02T03:04:05Z",
        last_modified: "2024-01-02T03:04:05Z",
        version: 2,
        location: format!("https://scim.example/scim/v2/{}/{id}", kind.endpoint()),
    };
    let _ = model::render(kind, outcome.doc, &meta, None);
}

/// A stored document, made as POST makes it.
fn stored(kind: ResourceKind, body: Value) -> Map<String, Value> {
    let mut doc = model::normalize(kind, &body).map(|n| n.doc).unwrap_or_default();
    model::default_active(kind, &mut doc);
    doc
}

/// A user with every shape the PATCH engine handles: multi-valued complex attributes with a
/// primary, a complex single-valued attribute, the enterprise extension, an unknown attribute.
fn rich_user() -> Map<String, Value> {
    stored(
        ResourceKind::User,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": "ann.smith@corp.example",
            "externalId": "00u1",
            "displayName": "Ann Smith",
            "active": true,
            "name": {"givenName": "Ann", "familyName": "Smith", "formatted": "Ann Smith"},
            "emails": [
                {"value": "ann@corp.example", "type": "work", "primary": true},
                {"value": "ann@home.example", "type": "home"}
            ],
            "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
            "addresses": [{"type": "work", "streetAddress": "1 Main St", "locality": "Zürich", "country": "CH", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": "Finance",
                "employeeNumber": "42",
                "manager": {"value": "u-2"}
            },
            "favouriteColour": "teal"
        }),
    )
}
