//! Bounds on what one resource may hold, checked before anything is stored: every string
//! value (`scim.max_attribute_bytes`), the values of a multi-valued attribute
//! (`scim.max_attribute_values`), the members one request gives a group
//! (`scim.max_members_per_request`), and the fields Identity Center limits where mapping them
//! would change who the user is (the email: Identity Center keeps at most 128 characters and
//! tells users apart by it). Fields it limits where a cut changes nothing that identifies
//! (display name 256, given and family names 64) are cut by the mapping instead, and group
//! names it cannot hold are transformed deterministically (`engine::mapping`).

use serde_json::{Map, Value};

use super::{Refusal, invalid_value};
use crate::scim::patch::MemberEdit;

/// Identity Center's Email: at most 128 characters.
const EMAIL_MAX: usize = 128;

/// The configured bounds (`[scim]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_attribute_bytes: usize,
    pub max_attribute_values: usize,
    pub max_members_per_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let c = crate::config::ScimConfig::default();
        Limits::from(&c)
    }
}

impl From<&crate::config::ScimConfig> for Limits {
    fn from(c: &crate::config::ScimConfig) -> Self {
        Limits {
            max_attribute_bytes: c.max_attribute_bytes,
            max_attribute_values: c.max_attribute_values,
            max_members_per_request: c.max_members_per_request,
        }
    }
}

impl Limits {
    /// Checks a whole document (as it would be stored), naming the first attribute past a
    /// bound by its path (`name.givenName`, `emails[2].value`).
    pub fn check_document(&self, doc: &Map<String, Value>) -> Result<(), Refusal> {
        for (k, v) in doc {
            self.check_value(k, v)?;
        }
        if let Some(email) = primary_email(doc) {
            if email.chars().count() > EMAIL_MAX {
                return Err(invalid_value(format!(
                    "emails: the address Identity Center would keep is {} characters long; it keeps at most {EMAIL_MAX}",
                    email.chars().count()
                )));
            }
        }
        Ok(())
    }

    fn check_value(&self, path: &str, v: &Value) -> Result<(), Refusal> {
        match v {
            Value::String(s) if s.len() > self.max_attribute_bytes => Err(invalid_value(format!(
                "{path}: {} bytes, more than the limit of {} (scim.max_attribute_bytes)",
                s.len(),
                self.max_attribute_bytes
            ))),
            Value::Array(items) => {
                if items.len() > self.max_attribute_values {
                    return Err(invalid_value(format!(
                        "{path}: {} values, more than the limit of {} (scim.max_attribute_values)",
                        items.len(),
                        self.max_attribute_values
                    )));
                }
                for (i, item) in items.iter().enumerate() {
                    self.check_value(&format!("{path}[{i}]"), item)?;
                }
                Ok(())
            }
            Value::Object(map) => {
                for (k, inner) in map {
                    // Extension schemas are keyed by their URN; name them as SCIM does.
                    let sep = if path.starts_with("urn:") { ":" } else { "." };
                    self.check_value(&format!("{path}{sep}{k}"), inner)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Checks the members one request gives a group (every id counted, added or removed).
    pub fn check_members(&self, edits: &[MemberEdit]) -> Result<(), Refusal> {
        let n: usize = edits
            .iter()
            .map(|e| match e {
                MemberEdit::Add(ids) | MemberEdit::Remove(ids) | MemberEdit::Replace(ids) => ids.len(),
                MemberEdit::RemoveWhere(_) => 0,
            })
            .sum();
        self.check_member_count(n)
    }

    pub fn check_member_count(&self, n: usize) -> Result<(), Refusal> {
        if n > self.max_members_per_request {
            return Err(invalid_value(format!(
                "members: {n} in one request, more than the limit of {} (scim.max_members_per_request); send them in several PATCH requests",
                self.max_members_per_request
            )));
        }
        Ok(())
    }
}

/// The email the mapping gives Identity Center (primary, else work, else the first).
fn primary_email(doc: &Map<String, Value>) -> Option<String> {
    crate::engine::mapping::primary_email(doc)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn detail(r: Result<(), Refusal>) -> String {
        match r {
            Err(Refusal::Invalid { detail, .. }) => detail,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn strings_past_the_limit_are_named_by_their_path() {
        let l = Limits::default();
        let long = "x".repeat(4097);
        assert!(l.check_document(&doc(json!({"displayName": "x".repeat(4096)}))).is_ok());
        let d = detail(l.check_document(&doc(json!({"displayName": long}))));
        assert!(d.starts_with("displayName: 4097 bytes") && d.contains("4096"), "{d}");
        let d = detail(l.check_document(&doc(json!({"name": {"givenName": long}}))));
        assert!(d.starts_with("name.givenName:"), "{d}");
        let d = detail(l.check_document(&doc(json!({"addresses": [{}, {"streetAddress": long}]}))));
        assert!(d.starts_with("addresses[1].streetAddress:"), "{d}");
        let d = detail(l.check_document(&doc(json!({
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": long}
        }))));
        assert!(
            d.starts_with("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department:"),
            "{d}"
        );
    }

    #[test]
    fn too_many_values_and_members_are_refused() {
        let l = Limits::default();
        let emails: Vec<Value> = (0..101).map(|i| json!({"value": format!("a{i}@x.example")})).collect();
        let d = detail(l.check_document(&doc(json!({ "emails": emails }))));
        assert!(d.starts_with("emails: 101 values") && d.contains("100"), "{d}");
        let ids: Vec<String> = (0..10_001).map(|i| i.to_string()).collect();
        let d = detail(l.check_members(&[MemberEdit::Add(ids)]));
        assert!(d.contains("10001 in one request") && d.contains("10000"), "{d}");
    }

    #[test]
    fn an_email_identity_center_could_not_keep_is_refused_not_dropped() {
        let l = Limits::default();
        let long = format!("{}@example.com", "a".repeat(120));
        let d = detail(l.check_document(&doc(json!({"emails": [{"value": long, "primary": true}]}))));
        assert!(d.contains("at most 128"), "{d}");
        let ok = format!("{}@example.com", "a".repeat(100));
        assert!(l.check_document(&doc(json!({"emails": [{"value": ok}]}))).is_ok());
    }
}
