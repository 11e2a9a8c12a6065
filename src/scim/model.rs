//! Turning client JSON into canonical resource documents, and documents back into SCIM JSON.
//!
//! A stored document (`doc`) holds a resource's attributes under their canonical names
//! (RFC 7643 §2.1 makes names case-insensitive; Microsoft's collection sends `"Primary"` and
//! `name.FamilyName`), extension attributes under the extension URN, and attributes we do not
//! know kept verbatim. It never holds `id`, `meta`, `password`, a User's `groups` or a Group's
//! `members`: those are server-managed or live in their own table.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{self, AttrDef, AttrType, Mutability, ResourceKind, SchemaDef};

/// A User or Group body after normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub doc: Map<String, Value>,
    /// Member ids named in a Group body, de-duplicated in order; `None` when the body had no
    /// `members` key (or a User).
    pub members: Option<Vec<String>>,
}

/// Normalises a POST or PUT body. Read-only attributes in the body (`id`, `meta`, `groups`)
/// are ignored, because Okta sends back exactly what it read (GET then PUT).
pub fn normalize(kind: ResourceKind, body: &Value) -> Result<Normalized, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the request body must be a JSON object"))?;
    let mut doc = Map::new();
    let mut members = None;
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("meta") {
            continue;
        }
        if kind == ResourceKind::Group && key.eq_ignore_ascii_case("members") {
            members = Some(member_ids(value)?);
            continue;
        }
        set_top_level(kind, &mut doc, key, value.clone())?;
    }
    finish(kind, &mut doc)?;
    Ok(Normalized { doc, members })
}

/// Sets one top-level key of a body (plain name, URN of an extension, or a dotted or
/// URN-qualified path such as `name.givenName`) into `doc`, normalising its value.
pub fn set_top_level(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    key: &str,
    value: Value,
) -> Result<(), ScimError> {
    if let Some(ext) = kind.schema_by_urn(key) {
        if std::ptr::eq(ext, kind.core()) {
            // A body nesting core attributes under the core URN: flatten it.
            let Value::Object(inner) = value else {
                return Err(ScimError::invalid_value(format!("\"{key}\" must be an object")));
            };
            for (k, v) in inner {
                set_top_level(kind, doc, &k, v)?;
            }
            return Ok(());
        }
        return merge_extension(doc, ext, value);
    }
    let (urn, attr, sub) = schema::split_path(kind, key);
    let known = schema::resolve(kind, urn.as_deref(), &attr, sub.as_deref());
    match known {
        Some(resolved) => {
            if resolved.attr.mutability == Mutability::ReadOnly {
                // Okta sends `groups: []`, Entra sends `meta`: read-only values are ignored.
                return Ok(());
            }
            if resolved.attr.name == "password" {
                // Write-only and never stored: Identity Center users have no SCIM password.
                return Ok(());
            }
            let target = match resolved.extension {
                Some(ext) => ext_object(doc, ext.id)?,
                None => doc,
            };
            match resolved.sub {
                None => set_normalized(target, resolved.attr, value, key),
                Some(sub) => {
                    if resolved.attr.multi {
                        return Err(ScimError::invalid_path(format!(
                            "\"{key}\" names a sub-attribute of a multi-valued attribute; use a value filter"
                        )));
                    }
                    let entry = target
                        .entry(resolved.attr.name.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !entry.is_object() {
                        *entry = Value::Object(Map::new());
                    }
                    if let Value::Object(m) = entry {
                        set_normalized(m, sub, value, key)?;
                        if m.is_empty() {
                            target.remove(resolved.attr.name);
                        }
                    }
                    Ok(())
                }
            }
        }
        None => {
            if key.starts_with("urn:") || key.starts_with("URN:") {
                // An extension we do not know (Entra adds `…/ADSCIM/2.0/Group`; custom
                // extensions): kept verbatim and returned, never a 500.
                if value.is_null() {
                    doc.remove(key);
                } else {
                    doc.insert(key.to_string(), value);
                }
                return Ok(());
            }
            if value.is_null() {
                doc.remove(key);
            } else {
                doc.insert(key.to_string(), value);
            }
            Ok(())
        }
    }
}

/// The object holding an extension's attributes, created when missing.
fn ext_object<'a>(doc: &'a mut Map<String, Value>, urn: &str) -> Result<&'a mut Map<String, Value>, ScimError> {
    let entry = doc.entry(urn.to_string()).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut().ok_or_else(ScimError::internal)
}

fn merge_extension(doc: &mut Map<String, Value>, ext: &'static SchemaDef, value: Value) -> Result<(), ScimError> {
    match value {
        Value::Null => {
            doc.remove(ext.id);
            Ok(())
        }
        Value::Object(inner) => {
            for (k, v) in inner {
                match ext.attr(&k) {
                    Some(def) => {
                        let target = ext_object(doc, ext.id)?;
                        set_normalized(target, def, v, &k)?;
                    }
                    None => {
                        let target = ext_object(doc, ext.id)?;
                        if v.is_null() {
                            target.remove(&k);
                        } else {
                            target.insert(k, v);
                        }
                    }
                }
            }
            if doc.get(ext.id).and_then(Value::as_object).is_some_and(Map::is_empty) {
                doc.remove(ext.id);
            }
            Ok(())
        }
        _ => Err(ScimError::invalid_value(format!("\"{}\" must be an object", ext.id))),
    }
}

/// Normalises `value` for `def` and stores it under the canonical name, or removes the
/// attribute when the value is null or empty (RFC 7643 §2.5: null means unassigned).
pub fn set_normalized(
    target: &mut Map<String, Value>,
    def: &AttrDef,
    value: Value,
    key: &str,
) -> Result<(), ScimError> {
    match normalize_value(def, value, key)? {
        Some(v) => {
            target.insert(def.name.to_string(), v);
        }
        None => {
            target.remove(def.name);
        }
    }
    Ok(())
}

/// Normalises one attribute value. `None` means unassigned.
pub fn normalize_value(def: &AttrDef, value: Value, key: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if def.multi {
        let items = match value {
            Value::Array(items) => items,
            // A lone object where an array belongs: accept it as a one-element list.
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = normalize_single(def, item, key)? {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        return Ok(Some(Value::Array(out)));
    }
    normalize_single(def, value, key)
}

/// Normalises a single (non-array) value of `def`.
pub fn normalize_single(def: &AttrDef, value: Value, key: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    match def.ty {
        AttrType::Complex => match value {
            Value::Object(inner) => {
                let mut out = Map::new();
                for (k, v) in inner {
                    match def.sub_attr(&k) {
                        Some(sub) => {
                            if let Some(v) = normalize_single(sub, v, &format!("{key}.{k}"))? {
                                out.insert(sub.name.to_string(), v);
                            }
                        }
                        None => {
                            if !v.is_null() {
                                out.insert(k, v);
                            }
                        }
                    }
                }
                if out.is_empty() {
                    Ok(None)
                } else {
                    Ok(Some(Value::Object(out)))
                }
            }
            // Entra sends the enterprise `manager` as a bare id string; any complex attribute
            // with a `value` sub-attribute accepts a bare string as that value.
            Value::String(s) if def.sub_attr("value").is_some() => {
                if s.is_empty() {
                    return Ok(None);
                }
                let mut out = Map::new();
                out.insert("value".to_string(), Value::String(s));
                Ok(Some(Value::Object(out)))
            }
            _ => Err(ScimError::invalid_value(format!("\"{key}\" must be an object"))),
        },
        AttrType::Boolean => match value {
            Value::Bool(b) => Ok(Some(Value::Bool(b))),
            // Entra's default mode sends "True"/"False" strings (profiles reference, Entra 1).
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(Some(Value::Bool(true))),
                "false" => Ok(Some(Value::Bool(false))),
                _ => Err(ScimError::invalid_value(format!(
                    "\"{key}\" must be a boolean, got \"{s}\""
                ))),
            },
            other => Err(ScimError::invalid_value(format!(
                "\"{key}\" must be a boolean, got {}",
                json_type(&other)
            ))),
        },
        AttrType::Integer => match &value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(value)),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(|i| Some(Value::from(i)))
                .map_err(|_| ScimError::invalid_value(format!("\"{key}\" must be an integer"))),
            _ => Err(ScimError::invalid_value(format!("\"{key}\" must be an integer"))),
        },
        AttrType::Decimal => match &value {
            Value::Number(_) => Ok(Some(value)),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(|n| Some(Value::Number(n)))
                .ok_or_else(|| ScimError::invalid_value(format!("\"{key}\" must be a decimal number"))),
            _ => Err(ScimError::invalid_value(format!("\"{key}\" must be a decimal number"))),
        },
        // A number or boolean where a string belongs is refused, not kept as its text: no IdP
        // sends one (Okta and Entra send every string attribute as a string), so it is a
        // client's mistake, and `"userName": 5` stored as "5" would hide it.
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime => match value {
            Value::String(s) => Ok(Some(Value::String(s))),
            other => Err(ScimError::invalid_value(format!(
                "\"{key}\" must be a string, got {}",
                json_type(&other)
            ))),
        },
    }
}

/// The JSON type of a value, for error details (the value itself may be anything, a password
/// included, and error details are echoed to the client and may be logged).
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A user created without `active` is active (Okta and Entra always send it; other clients may
/// not); storing it makes the value explicit in every read. Only on create: a PUT without
/// `active` or a PATCH that removes it leaves it unassigned (RFC 7644 §3.5.1, §3.5.2.2), which
/// Identity Center treats as enabled.
pub fn default_active(kind: ResourceKind, doc: &mut Map<String, Value>) {
    if kind == ResourceKind::User && !doc.contains_key("active") {
        doc.insert("active".to_string(), Value::Bool(true));
    }
}

/// Checks required attributes after a create, replace or patch.
pub fn finish(kind: ResourceKind, doc: &mut Map<String, Value>) -> Result<(), ScimError> {
    match kind {
        ResourceKind::User => {
            let name = doc
                .get("userName")
                .and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or_default();
            if name.is_empty() {
                return Err(ScimError::invalid_value(
                    "userName is required and must be a non-empty string",
                ));
            }
            if name.chars().count() > 256 {
                return Err(ScimError::invalid_value("userName is longer than 256 characters"));
            }
        }
        ResourceKind::Group => {
            let name = doc
                .get("displayName")
                .and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or_default();
            if name.is_empty() {
                return Err(ScimError::invalid_value(
                    "displayName is required and must be a non-empty string",
                ));
            }
            if name.chars().count() > 256 {
                return Err(ScimError::invalid_value("displayName is longer than 256 characters"));
            }
        }
    }
    if let Some(ext) = doc.get("externalId") {
        if !ext.is_string() {
            return Err(ScimError::invalid_value("externalId must be a string"));
        }
    }
    Ok(())
}

/// Member ids from a `members` value: `[{"value": id, "display"?, "$ref"?, "type"?}]`.
pub fn member_ids(value: &Value) -> Result<Vec<String>, ScimError> {
    let items: Vec<&Value> = match value {
        Value::Null => Vec::new(),
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for item in items {
        let id = match item {
            Value::Null => continue,
            Value::Object(m) => {
                let v = m.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")).map(|(_, v)| v);
                if let Some(t) = m
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("type"))
                    .and_then(|(_, v)| v.as_str())
                {
                    if !t.eq_ignore_ascii_case("user") {
                        return Err(ScimError::invalid_value(format!(
                            "members of type \"{t}\" are not supported; only users can be group members"
                        )));
                    }
                }
                match v {
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    _ => {
                        return Err(ScimError::invalid_value(
                            "every member needs a non-empty string \"value\"",
                        ));
                    }
                }
            }
            Value::String(s) if !s.is_empty() => s.clone(),
            _ => return Err(ScimError::invalid_value("members must be objects with a \"value\"")),
        };
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The `schemas` list of a rendered resource: the core schema, then the extensions it has values for.
pub fn schemas_for(kind: ResourceKind, doc: &Map<String, Value>) -> Vec<Value> {
    let mut out = vec![Value::String(kind.core().id.to_string())];
    for key in doc.keys() {
        if key.starts_with("urn:") || key.starts_with("URN:") {
            out.push(Value::String(key.clone()));
        }
    }
    out
}

/// Metadata of a stored resource.
#[derive(Debug, Clone)]
pub struct Meta<'a> {
    pub id: &'a str,
    pub created: &'a str,
    pub last_modified: &'a str,
    pub version: i64,
    /// Absolute URL of the resource (`meta.location`).
    pub location: String,
}

/// Weak ETag of a version (RFC 7644 §3.14).
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Renders a stored resource as SCIM JSON. `extra` carries the server-computed multi-valued
/// attribute (`members` of a Group, `groups` of a User), if it was loaded.
pub fn render(kind: ResourceKind, doc: Map<String, Value>, meta: &Meta<'_>, extra: Option<Vec<Value>>) -> Value {
    let mut out = Map::with_capacity(doc.len() + 4);
    out.insert("schemas".to_string(), Value::Array(schemas_for(kind, &doc)));
    out.insert("id".to_string(), Value::String(meta.id.to_string()));
    out.extend(doc);
    if let Some(extra) = extra {
        let key = match kind {
            ResourceKind::User => "groups",
            ResourceKind::Group => "members",
        };
        out.insert(key.to_string(), Value::Array(extra));
    }
    let mut m = Map::with_capacity(5);
    m.insert("resourceType".to_string(), Value::String(kind.name().to_string()));
    m.insert("created".to_string(), Value::String(meta.created.to_string()));
    m.insert(
        "lastModified".to_string(),
        Value::String(meta.last_modified.to_string()),
    );
    m.insert("location".to_string(), Value::String(meta.location.clone()));
    m.insert("version".to_string(), Value::String(etag(meta.version)));
    out.insert("meta".to_string(), Value::Object(m));
    Value::Object(out)
}

/// Which attributes a response carries (RFC 7644 §3.4.2.5 `attributes` / `excludedAttributes`).
#[derive(Debug, Clone, Default)]
pub struct Projection {
    attributes: Vec<ProjPath>,
    excluded: Vec<ProjPath>,
}

#[derive(Debug, Clone)]
struct ProjPath {
    /// `None` for a core attribute, `Some(urn)` for an extension attribute, and for a whole
    /// extension (`attr` empty).
    urn: Option<String>,
    attr: String,
    sub: Option<String>,
}

impl Projection {
    /// Parses comma-separated attribute lists. Unknown attribute names are accepted and simply
    /// match nothing, as RFC 7644 asks of a lenient server.
    pub fn parse(kind: ResourceKind, attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        let parse_list = |s: Option<&str>| -> Vec<ProjPath> {
            s.map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        if let Some(ext) = kind.schema_by_urn(p) {
                            return ProjPath {
                                urn: Some(ext.id.to_string()),
                                attr: String::new(),
                                sub: None,
                            };
                        }
                        let (urn, attr, sub) = schema::split_path(kind, p);
                        let urn = urn.filter(|u| !u.eq_ignore_ascii_case(kind.core().id));
                        ProjPath { urn, attr, sub }
                    })
                    .collect()
            })
            .unwrap_or_default()
        };
        Projection {
            attributes: parse_list(attributes),
            excluded: parse_list(excluded),
        }
    }

    /// Whether the response may include the attribute `name` (core, top level).
    pub fn includes(&self, name: &str) -> bool {
        if is_always_returned(name) {
            return true;
        }
        if !self.attributes.is_empty() {
            return self
                .attributes
                .iter()
                .any(|p| p.urn.is_none() && p.attr.eq_ignore_ascii_case(name));
        }
        !self
            .excluded
            .iter()
            .any(|p| p.urn.is_none() && p.sub.is_none() && p.attr.eq_ignore_ascii_case(name))
    }

    pub fn is_identity(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// Applies the projection to a rendered resource.
    pub fn apply(&self, resource: Value) -> Value {
        if self.is_identity() {
            return resource;
        }
        let Value::Object(mut obj) = resource else {
            return resource;
        };
        if !self.attributes.is_empty() {
            let mut out = Map::new();
            for (k, v) in obj.iter() {
                if is_always_returned(k) {
                    out.insert(k.clone(), v.clone());
                }
            }
            for p in &self.attributes {
                copy_path(&obj, &mut out, p);
            }
            // `meta.resourceType` is returned always (RFC 7643 §3.1 `returned: always` for id;
            // clients rely on resourceType to tell resources apart).
            if let Some(rt) = obj.get("meta").and_then(|m| m.get("resourceType")) {
                let meta = out
                    .entry("meta".to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = meta {
                    m.entry("resourceType".to_string()).or_insert_with(|| rt.clone());
                }
            }
            fix_schemas(&mut out);
            return Value::Object(out);
        }
        for p in &self.excluded {
            remove_path(&mut obj, p);
        }
        fix_schemas(&mut obj);
        Value::Object(obj)
    }
}

fn is_always_returned(name: &str) -> bool {
    name.eq_ignore_ascii_case("id") || name.eq_ignore_ascii_case("schemas")
}

fn find_key<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name))
}

fn copy_path(from: &Map<String, Value>, to: &mut Map<String, Value>, p: &ProjPath) {
    let (src, dst): (&Map<String, Value>, &mut Map<String, Value>) = match &p.urn {
        Some(urn) => {
            let Some(key) = find_key(from, urn) else { return };
            let Some(Value::Object(inner)) = from.get(key) else {
                return;
            };
            if p.attr.is_empty() {
                to.insert(key.clone(), Value::Object(inner.clone()));
                return;
            }
            let entry = to.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(dst) = entry else { return };
            (inner, dst)
        }
        None => (from, to),
    };
    let Some(key) = find_key(src, &p.attr) else { return };
    let Some(value) = src.get(key) else { return };
    match &p.sub {
        None => {
            dst.insert(key.clone(), value.clone());
        }
        Some(sub) => match value {
            Value::Object(m) => {
                if let Some(sk) = find_key(m, sub) {
                    let entry = dst.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
                    if let (Value::Object(d), Some(v)) = (entry, m.get(sk)) {
                        d.insert(sk.clone(), v.clone());
                    }
                }
            }
            Value::Array(items) => {
                let picked: Vec<Value> = items
                    .iter()
                    .filter_map(|item| {
                        let m = item.as_object()?;
                        let sk = find_key(m, sub)?;
                        let mut one = Map::new();
                        one.insert(sk.clone(), m.get(sk)?.clone());
                        Some(Value::Object(one))
                    })
                    .collect();
                dst.insert(key.clone(), Value::Array(picked));
            }
            _ => {}
        },
    }
}

fn remove_path(obj: &mut Map<String, Value>, p: &ProjPath) {
    let target: &mut Map<String, Value> = match &p.urn {
        Some(urn) => {
            let Some(key) = find_key(obj, urn).cloned() else { return };
            if p.attr.is_empty() {
                obj.remove(&key);
                return;
            }
            match obj.get_mut(&key) {
                Some(Value::Object(inner)) => inner,
                _ => return,
            }
        }
        None => obj,
    };
    if p.urn.is_none() && is_always_returned(&p.attr) {
        return;
    }
    let Some(key) = find_key(target, &p.attr).cloned() else {
        return;
    };
    match &p.sub {
        None => {
            target.remove(&key);
        }
        Some(sub) => match target.get_mut(&key) {
            Some(Value::Object(m)) => {
                if let Some(sk) = find_key(m, sub).cloned() {
                    m.remove(&sk);
                }
            }
            Some(Value::Array(items)) => {
                for item in items.iter_mut() {
                    if let Value::Object(m) = item {
                        if let Some(sk) = find_key(m, sub).cloned() {
                            m.remove(&sk);
                        }
                    }
                }
            }
            _ => {}
        },
    }
}

/// After a projection removed extension values, drop their URNs from `schemas`.
fn fix_schemas(obj: &mut Map<String, Value>) {
    let present: Vec<String> = obj.keys().filter(|k| k.starts_with("urn:")).cloned().collect();
    if let Some(Value::Array(schemas)) = obj.get_mut("schemas") {
        schemas.retain(|s| {
            let Some(s) = s.as_str() else { return false };
            s == schema::USER_SCHEMA || s == schema::GROUP_SCHEMA || present.iter().any(|p| p == s)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonicalises_names_and_coerces_string_booleans() {
        let n = normalize(
            ResourceKind::User,
            &json!({"UserName": "a@b.c", "Active": "False", "emails": [{"Primary": true, "value": "a@b.c", "type": "work"}],
                    "name": {"FamilyName": "B", "givenName": "A"}, "password": "secret", "groups": [], "meta": {"resourceType": "User"}}),
        )
        .expect("valid");
        assert_eq!(n.doc["userName"], "a@b.c");
        assert_eq!(n.doc["active"], false);
        assert_eq!(n.doc["emails"][0]["primary"], true);
        assert_eq!(n.doc["name"]["familyName"], "B");
        assert!(!n.doc.contains_key("password"));
        assert!(!n.doc.contains_key("groups"));
        assert!(!n.doc.contains_key("meta"));
    }

    #[test]
    fn keeps_unknown_attributes_and_extensions() {
        let n = normalize(
            ResourceKind::Group,
            &json!({"displayName": "g", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group": {"x": 1},
                    "urn:example:custom:1.0:Group": {"cost": "7"}, "color": "red", "members": [{"value": "u1", "$ref": null}, {"value": "u1"}]}),
        )
        .expect("valid");
        assert_eq!(n.doc["color"], "red");
        assert_eq!(n.doc["urn:example:custom:1.0:Group"]["cost"], "7");
        assert_eq!(n.members, Some(vec!["u1".to_string()]));
    }

    #[test]
    fn manager_as_bare_string_becomes_value() {
        let n = normalize(
            ResourceKind::User,
            &json!({"userName": "x", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": "m-1", "Department": "Ops"}}),
        )
        .expect("valid");
        let ext = &n.doc[schema::ENTERPRISE_USER_SCHEMA];
        assert_eq!(ext["manager"]["value"], "m-1");
        assert_eq!(ext["department"], "Ops");
    }

    #[test]
    fn rejects_missing_user_name_and_bad_types() {
        assert_eq!(
            normalize(ResourceKind::User, &json!({"displayName": "x"}))
                .err()
                .map(|e| e.status),
            Some(400)
        );
        let e = normalize(ResourceKind::User, &json!({"userName": "x", "active": "maybe"})).err();
        assert_eq!(e.and_then(|e| e.scim_type), Some(crate::scim::ScimType::InvalidValue));
        assert!(normalize(ResourceKind::User, &json!(["x"])).is_err());
    }

    #[test]
    fn projection_keeps_id_and_drops_excluded() {
        let v = json!({"schemas": [schema::GROUP_SCHEMA], "id": "1", "displayName": "g", "members": [{"value": "u"}], "meta": {"resourceType": "Group"}});
        let p = Projection::parse(ResourceKind::Group, None, Some("members"));
        let out = p.apply(v.clone());
        assert!(out.get("members").is_none());
        assert_eq!(out["displayName"], "g");
        let p = Projection::parse(ResourceKind::Group, Some("displayName"), None);
        let out = p.apply(v);
        assert_eq!(out["id"], "1");
        assert!(out.get("members").is_none());
        assert_eq!(out["meta"]["resourceType"], "Group");
    }
}
