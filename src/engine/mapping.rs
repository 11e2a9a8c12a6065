//! SCIM resources → Identity Center fields. Pure functions, documented in README ("How SCIM
//! maps onto Identity Center").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Identity Center's rule for UserName: 1-64 characters of `[0-9A-Za-z+=,.@_-]` (CreateUser).
pub const USER_NAME_MAX: usize = 64;
/// GroupName: at most 128 characters, documented as letters, digits and `-`.
pub const GROUP_NAME_MAX: usize = 128;
const NAME_PART_MAX: usize = 64;
const DISPLAY_NAME_MAX: usize = 256;
const EMAIL_MAX: usize = 128;
const DESCRIPTION_MAX: usize = 1024;

/// Why a SCIM userName cannot be an Identity Center UserName, or `None` if it can.
pub fn user_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("userName must not be empty".to_owned());
    }
    if name.chars().count() > USER_NAME_MAX {
        return Some(format!(
            "userName \"{name}\" is longer than the {USER_NAME_MAX} characters Identity Center allows"
        ));
    }
    if let Some(c) = name.chars().find(|c| !is_user_name_char(*c)) {
        return Some(format!(
            "userName \"{name}\" contains {c:?}; Identity Center user names may only contain letters, digits and + = , . @ _ -"
        ));
    }
    None
}

fn is_user_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// The marker that identifies objects this bridge created, kept in their Description. After a
/// lost answer or a crash, a lookup that finds an object with our marker knows it is ours and
/// links it instead of creating a duplicate or treating it as a conflict.
pub fn marker(tenant: &str, scim_id: &str) -> String {
    format!("[cic-bridge {tenant}/{scim_id}]")
}

/// What cic-bridge writes into an Identity Center user; also what `cic_links.synced` records.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserFields {
    pub user_name: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub email: String,
    pub description: String,
    pub enabled: bool,
}

/// Maps a stored SCIM user: `userName` → UserName, `name.givenName` → FirstName,
/// `name.familyName` → LastName (the CreateUser text swaps them; UserInfo and the examples do
/// not), `displayName` → DisplayName (else `name.formatted`), the primary email (else the
/// work email, else the first) → Email, `active` → Enabled/Disabled (unassigned = enabled).
/// Values longer than Identity Center accepts are cut at its limit.
pub fn user_fields(doc: &Map<String, Value>, tenant: &str, scim_id: &str) -> UserFields {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().trim().to_owned();
    let name = doc.get("name").and_then(Value::as_object);
    let display = {
        let d = s(doc.get("displayName"));
        if d.is_empty() {
            s(name.and_then(|n| n.get("formatted")))
        } else {
            d
        }
    };
    UserFields {
        user_name: s(doc.get("userName")),
        first_name: cut(&s(name.and_then(|n| n.get("givenName"))), NAME_PART_MAX),
        last_name: cut(&s(name.and_then(|n| n.get("familyName"))), NAME_PART_MAX),
        display_name: cut(&display, DISPLAY_NAME_MAX),
        email: primary_email(doc)
            .filter(|e| e.chars().count() <= EMAIL_MAX)
            .unwrap_or_default(),
        description: cut(
            &format!("Provisioned by cic-bridge {}", marker(tenant, scim_id)),
            DESCRIPTION_MAX,
        ),
        enabled: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
    }
}

/// The email Identity Center gets: the primary, else the work one, else the first.
pub fn primary_email(doc: &Map<String, Value>) -> Option<String> {
    let emails: Vec<&Map<String, Value>> = doc
        .get("emails")?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .filter(|e| {
            e.get("value")
                .and_then(Value::as_str)
                .is_some_and(|v| !v.trim().is_empty())
        })
        .collect();
    let pick = emails
        .iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| {
            emails
                .iter()
                .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
        })
        .or_else(|| emails.first())?;
    pick.get("value").and_then(Value::as_str).map(|v| v.trim().to_owned())
}

/// What cic-bridge writes into an Identity Center group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupFields {
    pub group_name: String,
    pub description: String,
}

/// Maps a SCIM group. Identity Center documents group names as letters, digits and `-`, at
/// most 128 characters; IdP group names often have spaces (`Cloud Admins`). A name outside
/// the rule is transformed deterministically: every run of other characters becomes one `-`,
/// leading and trailing `-` go, and `-` plus the first 8 hex digits of the SHA-256 of the
/// original name is appended, so that `Cloud Admins` and `Cloud_Admins` stay distinct
/// (`Cloud-Admins-1b2c3d4e`). The original name is kept in the Description.
pub fn group_fields(display_name: &str, tenant: &str, scim_id: &str) -> GroupFields {
    let original = display_name.trim();
    let description = cut(
        &format!(
            "SCIM group \"{original}\", provisioned by cic-bridge {}",
            marker(tenant, scim_id)
        ),
        DESCRIPTION_MAX,
    );
    GroupFields {
        group_name: group_name(original),
        description,
    }
}

pub fn group_name(original: &str) -> String {
    let valid = !original.is_empty()
        && original.chars().count() <= GROUP_NAME_MAX
        && original.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        return original.to_owned();
    }
    let mut base = String::new();
    for c in original.chars() {
        if c.is_ascii_alphanumeric() {
            base.push(c);
        } else if !base.ends_with('-') {
            base.push('-');
        }
    }
    let base = base.trim_matches('-');
    let digest = Sha256::digest(original.as_bytes());
    let suffix = hex::encode(&digest[..4]);
    let room = GROUP_NAME_MAX - suffix.len() - 1;
    let base: String = base.chars().take(room).collect();
    let base = base.trim_end_matches('-');
    if base.is_empty() {
        format!("group-{suffix}")
    } else {
        format!("{base}-{suffix}")
    }
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn user_fields_follow_the_documented_mapping() {
        let f = user_fields(
            &doc(json!({
                "userName": "ada@example.com",
                "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
                "emails": [
                    {"value": "home@example.com", "type": "home"},
                    {"value": "ada@example.com", "type": "work", "primary": true}
                ],
                "active": false
            })),
            "corp",
            "id-1",
        );
        assert_eq!(f.user_name, "ada@example.com");
        assert_eq!((f.first_name.as_str(), f.last_name.as_str()), ("Ada", "Lovelace"));
        assert_eq!(f.display_name, "Ada Lovelace", "falls back to name.formatted");
        assert_eq!(f.email, "ada@example.com", "the primary email wins");
        assert!(!f.enabled);
        assert!(f.description.contains("[cic-bridge corp/id-1]"));
    }

    #[test]
    fn email_falls_back_to_work_then_first_and_active_defaults_to_enabled() {
        let f = user_fields(
            &doc(json!({"userName": "b", "emails": [{"value": "x@h"}, {"value": "w@w", "type": "work"}]})),
            "t",
            "i",
        );
        assert_eq!(f.email, "w@w");
        assert!(f.enabled);
        let f = user_fields(&doc(json!({"userName": "b", "emails": [{"value": "x@h"}]})), "t", "i");
        assert_eq!(f.email, "x@h");
        let long = "x".repeat(300);
        let f = user_fields(&doc(json!({"userName": "b", "displayName": long})), "t", "i");
        assert_eq!(f.display_name.chars().count(), 256);
    }

    #[test]
    fn user_name_rule() {
        assert_eq!(user_name_problem("ada.lovelace+test=1,x@corp_example-1.com"), None);
        assert!(user_name_problem("ada lovelace").is_some_and(|p| p.contains("' '")));
        assert!(user_name_problem("名前").is_some());
        assert!(user_name_problem(&"a".repeat(65)).is_some_and(|p| p.contains("64")));
        assert_eq!(user_name_problem(&"a".repeat(64)), None);
        assert!(user_name_problem("").is_some());
    }

    #[test]
    fn group_names_are_kept_or_transformed_deterministically() {
        assert_eq!(group_name("cloud-admins"), "cloud-admins");
        let a = group_name("Cloud Admins");
        let b = group_name("Cloud_Admins");
        assert!(
            a.starts_with("Cloud-Admins-") && a.len() == "Cloud-Admins-".len() + 8,
            "{a}"
        );
        assert_ne!(a, b, "distinct originals stay distinct");
        assert_eq!(a, group_name("Cloud Admins"), "deterministic");
        assert!(group_name("  --  ").starts_with("group-"));
        assert!(group_name("研发部").starts_with("group-"));
        let long = group_name(&"ab ".repeat(100));
        assert!(long.chars().count() <= GROUP_NAME_MAX, "{}", long.len());
        assert!(long.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        let f = group_fields("Cloud Admins", "corp", "g1");
        assert!(f.description.contains("\"Cloud Admins\""));
        assert!(f.description.contains("[cic-bridge corp/g1]"));
    }
}
