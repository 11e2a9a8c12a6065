//! A POST or PUT body for `/Users` and `/Groups` as the handlers take it: parsed as JSON,
//! normalised into a stored document (`model::normalize`), given its create-time defaults,
//! checked against Identity Center's user name rule, mapped to the fields the engine sends,
//! rendered back, and projected with `attributes` / `excludedAttributes`.
#![no_main]

use cic_bridge::engine::mapping;
use cic_bridge::scim::model::{self, Meta, Projection};
use cic_bridge::scim::schema::ResourceKind;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for kind in [ResourceKind::User, ResourceKind::Group] {
        let Ok(n) = model::normalize(kind, &body) else { continue };
        let mut doc = n.doc;
        if kind == ResourceKind::User {
            assert!(n.members.is_none(), "members read from a user body");
        }
        model::default_active(kind, &mut doc);
        // A stored document must normalise to itself: PUT of what GET returned changes nothing.
        let again = model::normalize(kind, &Value::Object(doc.clone()));
        assert_eq!(
            again.as_ref().map(|n| &n.doc),
            Ok(&doc),
            "normalising a stored document changed it"
        );
        match kind {
            ResourceKind::User => {
                let name = doc.get("userName").and_then(Value::as_str).unwrap_or_default();
                if mapping::user_name_problem(name).is_none() {
                    let _ = mapping::user_fields(&doc, "corp", "u-1");
                }
            }
            ResourceKind::Group => {
                let name = doc.get("displayName").and_then(Value::as_str).unwrap_or_default();
                let _ = mapping::group_fields(name, "corp", "g-1");
            }
        }
        let meta = Meta {
            id: "id-1",
            created: "2024-01-02T03:04:05Z",
            last_modified: "2024-01-02T03:04:05Z",
            version: 1,
            location: format!("https://scim.example/scim/v2/{}/id-1", kind.endpoint()),
        };
        let rendered = model::render(kind, doc, &meta, None);
        for (attributes, excluded) in [
            (Some("userName,emails.value,name.familyName,displayName,members"), None),
            (
                None,
                Some("emails,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
            ),
        ] {
            let _ = Projection::parse(kind, attributes, excluded).apply(rendered.clone());
        }
    }
});
