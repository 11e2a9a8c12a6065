//! The PATCH engine (RFC 7644 §3.5.2), with the forms Okta and Entra actually send
//! (profiles reference §1.11): op names in any case, path-less values with dotted and
//! URN-qualified keys, string booleans, three member-removal forms, filtered paths that create
//! their target when absent, and repeated add/remove that is safe to repeat.
//!
//! `apply` is pure: it takes the stored document and returns a new one plus the membership
//! edits for the store to run as bulk statements. Any error leaves nothing changed.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{self, CompValue, CompareOp, Filter, PatchPath};
use super::model;
use super::schema::{self, AttrDef, Mutability, ResolvedAttr, ResourceKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Clone)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// Shows the value's JSON type only: an operation may carry a user's password (Okta's
/// password push), which must never reach a log or a panic message.
impl std::fmt::Debug for PatchOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = self.value.as_ref().map(|v| match v {
            Value::Null => "null",
            Value::Bool(_) => "<boolean>",
            Value::Number(_) => "<number>",
            Value::String(_) => "<string>",
            Value::Array(_) => "<array>",
            Value::Object(_) => "<object>",
        });
        f.debug_struct("PatchOp")
            .field("op", &self.op)
            .field("path", &self.path)
            .field("value", &value)
            .finish()
    }
}

/// A change to a Group's member list, applied by the store in order.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberEdit {
    Add(Vec<String>),
    Remove(Vec<String>),
    /// Remove the members matching a filter other than `value eq "…"` (e.g. on `display`).
    RemoveWhere(Filter),
    Replace(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    pub doc: Map<String, Value>,
    pub member_edits: Vec<MemberEdit>,
}

/// Parses a PatchOp request body.
pub fn parse_request(body: &Value) -> Result<Vec<PatchOp>, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the PATCH body must be a JSON object"))?;
    if let Some(schemas) = get_ci(obj, "schemas") {
        let ok = schemas.as_array().is_some_and(|a| {
            a.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(schema::PATCH_OP_SCHEMA))
            })
        });
        if !ok {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must contain \"{}\"",
                schema::PATCH_OP_SCHEMA
            )));
        }
    }
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("the PATCH body needs an \"Operations\" array"))?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("\"Operations\" must not be empty"));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let o = op
                .as_object()
                .ok_or_else(|| ScimError::invalid_syntax(format!("Operations[{i}] must be an object")))?;
            let name = get_ci(o, "op")
                .and_then(Value::as_str)
                .ok_or_else(|| ScimError::invalid_syntax(format!("Operations[{i}] needs an \"op\"")))?;
            // Entra sends "Add"/"Replace"/"Remove" (profiles reference, Entra 2).
            let kind = match name.to_ascii_lowercase().as_str() {
                "add" => OpKind::Add,
                "replace" => OpKind::Replace,
                "remove" => OpKind::Remove,
                other => {
                    return Err(ScimError::invalid_syntax(format!(
                        "Operations[{i}]: unknown op \"{other}\"; expected add, replace or remove"
                    )));
                }
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(p.trim().to_string()),
                Some(_) => {
                    return Err(ScimError::invalid_path(format!(
                        "Operations[{i}]: path must be a string"
                    )));
                }
            };
            let value = get_ci(o, "value").cloned();
            Ok(PatchOp { op: kind, path, value })
        })
        .collect()
}

/// Applies `ops` to a resource document. `id` is the resource's id (Okta repeats it inside
/// path-less group renames).
pub fn apply(
    kind: ResourceKind,
    id: &str,
    doc: &Map<String, Value>,
    ops: &[PatchOp],
) -> Result<PatchOutcome, ScimError> {
    let mut out = PatchOutcome {
        doc: doc.clone(),
        member_edits: Vec::new(),
    };
    for op in ops {
        match &op.path {
            None => apply_pathless(kind, id, &mut out, op)?,
            Some(path) if is_extension_urn(kind, path) => apply_extension_path(kind, &mut out, op, path)?,
            Some(path) => {
                let parsed =
                    filter::parse_path(path).map_err(|e| ScimError::invalid_path(format!("path \"{path}\": {e}")))?;
                apply_path(kind, &mut out, op.op, path, &parsed, op.value.clone())?;
            }
        }
    }
    model::finish(kind, &mut out.doc)?;
    out.member_edits = coalesce(out.member_edits);
    Ok(out)
}

/// A path-less add or replace: every key of the value object is a target (RFC 7644 §3.5.2.1
/// and .3). Keys may be dotted (`name.givenName`) or URN-qualified — Entra's
/// `aadOptscim062020` form — or whole extension objects.
fn apply_pathless(kind: ResourceKind, id: &str, out: &mut PatchOutcome, op: &PatchOp) -> Result<(), ScimError> {
    if op.op == OpKind::Remove {
        return Err(ScimError::no_target(
            "a remove operation needs a path (RFC 7644 §3.5.2.2)",
        ));
    }
    let Some(Value::Object(values)) = &op.value else {
        return Err(ScimError::invalid_value(
            "an add or replace without a path needs an object value",
        ));
    };
    for (key, value) in values {
        if key.eq_ignore_ascii_case("id") {
            // Okta's group rename carries the group's own id; anything else would be a change.
            if value.as_str() == Some(id) || value.is_null() {
                continue;
            }
            return Err(ScimError::mutability("id is read-only"));
        }
        if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("meta") {
            continue;
        }
        if is_extension_urn(kind, key) {
            apply_extension_object(kind, out, op.op, key, value)?;
            continue;
        }
        let parsed = filter::parse_path(key).map_err(|e| ScimError::invalid_path(format!("\"{key}\": {e}")))?;
        apply_path(kind, out, op.op, key, &parsed, Some(value.clone()))?;
    }
    Ok(())
}

/// Whether `path` names a whole schema extension (`urn:…:enterprise:2.0:User`), not an
/// attribute inside one.
fn is_extension_urn(kind: ResourceKind, path: &str) -> bool {
    kind.schema_by_urn(path)
        .is_some_and(|ext| !std::ptr::eq(ext, kind.core()))
}

/// A PATCH whose path is an extension's URN (scim2-tester, and clients that send the extension
/// as one complex attribute): remove drops the whole extension; add and replace set each
/// sub-attribute given, leaving the others as they are (RFC 7644 §3.5.2.1 and §3.5.2.3 on
/// complex targets).
fn apply_extension_path(kind: ResourceKind, out: &mut PatchOutcome, op: &PatchOp, urn: &str) -> Result<(), ScimError> {
    match (op.op, &op.value) {
        (OpKind::Remove, _) => {
            if let Some(ext) = kind.schema_by_urn(urn) {
                out.doc.remove(ext.id);
            }
            Ok(())
        }
        (_, Some(value)) => apply_extension_object(kind, out, op.op, urn, value),
        (_, None) => Err(ScimError::invalid_value(format!("{urn}: add and replace need a value"))),
    }
}

/// Applies each key of an extension object as its own URN-qualified path.
fn apply_extension_object(
    kind: ResourceKind,
    out: &mut PatchOutcome,
    op: OpKind,
    urn: &str,
    value: &Value,
) -> Result<(), ScimError> {
    let ext = kind.schema_by_urn(urn).ok_or_else(ScimError::internal)?;
    let Value::Object(inner) = value else {
        return Err(ScimError::invalid_value(format!("\"{urn}\" must be an object")));
    };
    for (k, v) in inner {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let full = format!("{}:{}", ext.id, k);
        let parsed = filter::parse_path(&full).map_err(|e| ScimError::invalid_path(format!("\"{full}\": {e}")))?;
        apply_path(kind, out, op, &full, &parsed, Some(v.clone()))?;
    }
    Ok(())
}

fn apply_path(
    kind: ResourceKind,
    out: &mut PatchOutcome,
    op: OpKind,
    raw: &str,
    path: &PatchPath,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let ap = &path.attr;
    let resolved = schema::resolve(kind, ap.urn.as_deref(), &ap.attr, ap.sub.as_deref());
    let Some(resolved) = resolved else {
        return apply_unknown(out, op, raw, path, value);
    };
    if op != OpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!("{raw}: add and replace need a value")));
    }
    if kind == ResourceKind::Group && resolved.attr.name == "members" && resolved.extension.is_none() {
        return members_op(out, op, raw, path, value);
    }
    if resolved.attr.mutability == Mutability::ReadOnly
        || resolved.sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
    {
        return Err(ScimError::mutability(format!("{raw} is read-only")));
    }
    if resolved.attr.name == "password" {
        // Okta's password push (path-less replace with `password`): accepted, never stored.
        return Ok(());
    }
    if resolved.attr.name == "id" || resolved.attr.name == "meta" {
        return Err(ScimError::mutability(format!("{raw} is read-only")));
    }
    let container: &mut Map<String, Value> = match resolved.extension {
        Some(ext) => {
            let entry = out
                .doc
                .entry(ext.id.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            entry.as_object_mut().ok_or_else(ScimError::internal)?
        }
        None => &mut out.doc,
    };
    match &path.filter {
        None => apply_plain(container, &resolved, op, raw, path.sub_attr.as_deref(), value)?,
        Some(f) => apply_filtered(kind, container, &resolved, op, raw, f, path.sub_attr.as_deref(), value)?,
    }
    if let Some(ext) = resolved.extension {
        if out
            .doc
            .get(ext.id)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            out.doc.remove(ext.id);
        }
    }
    Ok(())
}

/// Attributes outside the schema: plain names are kept verbatim (as on POST and PUT); anything
/// more elaborate cannot be resolved.
fn apply_unknown(
    out: &mut PatchOutcome,
    op: OpKind,
    raw: &str,
    path: &PatchPath,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let ap = &path.attr;
    if ap.urn.is_some() || ap.sub.is_some() || path.filter.is_some() || path.sub_attr.is_some() {
        return Err(ScimError::invalid_path(format!(
            "\"{raw}\" is not an attribute of this resource"
        )));
    }
    match op {
        OpKind::Remove => {
            out.doc.remove(&ap.attr);
        }
        OpKind::Add | OpKind::Replace => match value {
            Some(Value::Null) | None => {
                out.doc.remove(&ap.attr);
            }
            Some(v) => {
                out.doc.insert(ap.attr.clone(), v);
            }
        },
    }
    Ok(())
}

fn apply_plain(
    container: &mut Map<String, Value>,
    resolved: &ResolvedAttr,
    op: OpKind,
    raw: &str,
    after_filter_sub: Option<&str>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    debug_assert!(after_filter_sub.is_none());
    let attr = resolved.attr;
    if let Some(sub) = resolved.sub {
        if attr.multi {
            return Err(ScimError::invalid_path(format!(
                "{raw}: a sub-attribute of the multi-valued \"{}\" needs a value filter, e.g. {}[type eq \"work\"].{}",
                attr.name, attr.name, sub.name
            )));
        }
        match op {
            OpKind::Remove => {
                if let Some(Value::Object(m)) = container.get_mut(attr.name) {
                    m.remove(sub.name);
                    if m.is_empty() {
                        container.remove(attr.name);
                    }
                }
            }
            OpKind::Add | OpKind::Replace => {
                let v = model::normalize_single(sub, value.unwrap_or(Value::Null), raw)?;
                let entry = container
                    .entry(attr.name.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Some(m) = entry.as_object_mut() {
                    match v {
                        Some(v) => {
                            m.insert(sub.name.to_string(), v);
                        }
                        None => {
                            m.remove(sub.name);
                        }
                    }
                    if m.is_empty() {
                        container.remove(attr.name);
                    }
                }
            }
        }
        return Ok(());
    }
    match op {
        OpKind::Remove => {
            match (attr.multi, value) {
                // `{"op":"remove","path":"emails","value":[{"value":"x"}]}`: remove the listed
                // values only, as Entra does for members.
                (true, Some(v)) if !v.is_null() => {
                    let targets = model::normalize_value(attr, v, raw)?.unwrap_or(Value::Array(Vec::new()));
                    if let (Some(Value::Array(items)), Value::Array(targets)) = (container.get_mut(attr.name), targets)
                    {
                        items.retain(|item| !targets.iter().any(|t| same_value(t, item)));
                        if items.is_empty() {
                            container.remove(attr.name);
                        }
                    }
                }
                _ => {
                    container.remove(attr.name);
                }
            }
        }
        OpKind::Add | OpKind::Replace => {
            let v = model::normalize_value(attr, value.unwrap_or(Value::Null), raw)?;
            if attr.multi {
                match (op, v) {
                    (OpKind::Add, Some(Value::Array(new))) => {
                        let entry = container
                            .entry(attr.name.to_string())
                            .or_insert_with(|| Value::Array(Vec::new()));
                        if !entry.is_array() {
                            *entry = Value::Array(Vec::new());
                        }
                        if let Some(items) = entry.as_array_mut() {
                            for n in new {
                                if !items.contains(&n) {
                                    items.push(n);
                                }
                            }
                        }
                    }
                    (OpKind::Add, _) => {}
                    (_, Some(v)) => {
                        container.insert(attr.name.to_string(), v);
                    }
                    (_, None) => {
                        container.remove(attr.name);
                    }
                }
                ensure_single_primary(container, attr);
            } else if attr.is_complex() {
                // RFC 7644 §3.5.2.1/.3: sub-attributes not named in the value are left unchanged.
                match v {
                    Some(Value::Object(new)) => {
                        let entry = container
                            .entry(attr.name.to_string())
                            .or_insert_with(|| Value::Object(Map::new()));
                        if !entry.is_object() {
                            *entry = Value::Object(Map::new());
                        }
                        if let Some(m) = entry.as_object_mut() {
                            for (k, v) in new {
                                m.insert(k, v);
                            }
                        }
                    }
                    _ => {
                        container.remove(attr.name);
                    }
                }
            } else {
                match v {
                    Some(v) => {
                        container.insert(attr.name.to_string(), v);
                    }
                    None => {
                        container.remove(attr.name);
                    }
                }
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn apply_filtered(
    kind: ResourceKind,
    container: &mut Map<String, Value>,
    resolved: &ResolvedAttr,
    op: OpKind,
    raw: &str,
    f: &Filter,
    sub_attr: Option<&str>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let attr = resolved.attr;
    if !attr.multi || !attr.is_complex() {
        return Err(ScimError::invalid_path(format!(
            "{raw}: a value filter needs a multi-valued complex attribute"
        )));
    }
    let sub: Option<&'static AttrDef> = match sub_attr {
        Some(name) => Some(attr.sub_attr(name).ok_or_else(|| {
            ScimError::invalid_path(format!("{raw}: \"{name}\" is not a sub-attribute of {}", attr.name))
        })?),
        None => None,
    };
    let items: Vec<Value> = container
        .get(attr.name)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let matched: Vec<bool> = items
        .iter()
        .map(|item| filter::matches_element(f, kind, resolved, item))
        .collect();
    let any = matched.iter().any(|m| *m);
    let mut items = items;
    match op {
        OpKind::Remove => {
            // Removing something already absent succeeds: clients resend after partial failures.
            match sub {
                None => {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !matched[i];
                        i += 1;
                        keep
                    });
                }
                Some(sub) => {
                    for (item, m) in items.iter_mut().zip(&matched) {
                        if *m {
                            if let Some(o) = item.as_object_mut() {
                                o.remove(sub.name);
                            }
                        }
                    }
                    items.retain(|item| item.as_object().is_none_or(|o| !o.is_empty()));
                }
            }
        }
        OpKind::Add | OpKind::Replace => {
            let value = value.unwrap_or(Value::Null);
            if any {
                for (item, m) in items.iter_mut().zip(&matched) {
                    if !*m {
                        continue;
                    }
                    match sub {
                        Some(sub) => {
                            let v = model::normalize_single(sub, value.clone(), raw)?;
                            if let Some(o) = item.as_object_mut() {
                                match v {
                                    Some(v) => {
                                        o.insert(sub.name.to_string(), v);
                                    }
                                    None => {
                                        o.remove(sub.name);
                                    }
                                }
                            }
                        }
                        None => {
                            let v = model::normalize_single(attr, value.clone(), raw)?;
                            if let (Some(o), Some(Value::Object(new))) = (item.as_object_mut(), v) {
                                for (k, v) in new {
                                    o.insert(k, v);
                                }
                            }
                        }
                    }
                }
            } else {
                // Entra replaces `emails[type eq "work"].value` whenever the mail changes, also
                // when no work e-mail exists yet. RFC 7644 would answer noTarget; a tolerant
                // server creates the element from the filter's equality clauses instead
                // (profiles reference, Entra 12).
                let mut seed = Map::new();
                if !equality_seed(f, &mut seed) {
                    return Err(ScimError::no_target(format!("{raw}: the filter matched no value")));
                }
                let mut element = Value::Object(seed);
                match sub {
                    Some(sub) => {
                        if let (Some(o), Some(v)) = (element.as_object_mut(), model::normalize_single(sub, value, raw)?)
                        {
                            o.insert(sub.name.to_string(), v);
                        }
                    }
                    None => {
                        if let (Some(o), Some(Value::Object(new))) =
                            (element.as_object_mut(), model::normalize_single(attr, value, raw)?)
                        {
                            for (k, v) in new {
                                o.insert(k, v);
                            }
                        }
                    }
                }
                if let Some(Value::Object(normalized)) = model::normalize_single(attr, element, raw)? {
                    items.push(Value::Object(normalized));
                }
            }
        }
    }
    if items.is_empty() {
        container.remove(attr.name);
    } else {
        container.insert(attr.name.to_string(), Value::Array(items));
        ensure_single_primary(container, attr);
    }
    Ok(())
}

/// Collects `a eq "v" and b eq "w"` clauses into an object; false if the filter has any other shape.
fn equality_seed(f: &Filter, seed: &mut Map<String, Value>) -> bool {
    match f {
        Filter::And(a, b) => equality_seed(a, seed) && equality_seed(b, seed),
        Filter::Compare(path, CompareOp::Eq, v) if path.urn.is_none() && path.sub.is_none() => {
            let v = match v {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Num(n) => Value::Number(n.clone()),
                CompValue::Null => return false,
            };
            seed.insert(path.attr.clone(), v);
            true
        }
        _ => false,
    }
}

/// RFC 7643 §2.4: `primary: true` appears at most once; the newest one wins.
fn ensure_single_primary(container: &mut Map<String, Value>, attr: &AttrDef) {
    let Some(Value::Array(items)) = container.get_mut(attr.name) else {
        return;
    };
    let primaries: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, v)| v.get("primary").and_then(Value::as_bool) == Some(true))
        .map(|(i, _)| i)
        .collect();
    if primaries.len() > 1 {
        for &i in &primaries[..primaries.len() - 1] {
            if let Some(o) = items[i].as_object_mut() {
                o.insert("primary".to_string(), Value::Bool(false));
            }
        }
    }
}

fn same_value(target: &Value, item: &Value) -> bool {
    match (target.get("value"), item.get("value")) {
        (Some(a), Some(b)) => a == b,
        _ => target == item,
    }
}

/// Group membership operations: the three removal forms (`members[value eq "x"]`, Entra's
/// `path: members` with a value array, and Okta's `replace` with the full list, `[]` included).
fn members_op(
    out: &mut PatchOutcome,
    op: OpKind,
    raw: &str,
    path: &PatchPath,
    value: Option<Value>,
) -> Result<(), ScimError> {
    if path.attr.sub.is_some() || path.sub_attr.is_some() {
        return Err(ScimError::invalid_path(format!(
            "{raw}: member sub-attributes cannot be changed"
        )));
    }
    match (&path.filter, op) {
        (None, OpKind::Add) => {
            let ids = model::member_ids(&value.unwrap_or(Value::Null))?;
            out.member_edits.push(MemberEdit::Add(ids));
        }
        (None, OpKind::Replace) => {
            let ids = model::member_ids(&value.unwrap_or(Value::Null))?;
            out.member_edits.push(MemberEdit::Replace(ids));
        }
        (None, OpKind::Remove) => match value {
            Some(v) if !v.is_null() => out.member_edits.push(MemberEdit::Remove(model::member_ids(&v)?)),
            _ => out.member_edits.push(MemberEdit::Replace(Vec::new())),
        },
        (Some(f), OpKind::Remove) => match member_value_ids(f) {
            Some(ids) => out.member_edits.push(MemberEdit::Remove(ids)),
            None => out.member_edits.push(MemberEdit::RemoveWhere(f.clone())),
        },
        (Some(f), OpKind::Add | OpKind::Replace) => {
            // `members[value eq "x"]` with add/replace: make sure x is a member.
            match member_value_ids(f) {
                Some(ids) => out.member_edits.push(MemberEdit::Add(ids)),
                None => {
                    return Err(ScimError::invalid_path(format!(
                        "{raw}: add or replace on filtered members supports only value eq filters"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// `value eq "a"` or `value eq "a" or value eq "b"` → the ids; None for any other filter.
fn member_value_ids(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(s))
            if p.urn.is_none() && p.sub.is_none() && p.attr.eq_ignore_ascii_case("value") =>
        {
            Some(vec![s.clone()])
        }
        Filter::Or(a, b) => {
            let mut ids = member_value_ids(a)?;
            ids.extend(member_value_ids(b)?);
            Some(ids)
        }
        _ => None,
    }
}

/// Merges consecutive edits of the same kind so that a PATCH of thousands of single-member ops
/// still runs as a few bulk statements.
fn coalesce(edits: Vec<MemberEdit>) -> Vec<MemberEdit> {
    let mut out: Vec<MemberEdit> = Vec::with_capacity(edits.len());
    for e in edits {
        match (out.last_mut(), e) {
            (Some(MemberEdit::Add(a)), MemberEdit::Add(b)) => a.extend(b),
            (Some(MemberEdit::Remove(a)), MemberEdit::Remove(b)) => a.extend(b),
            (Some(last @ MemberEdit::Replace(_)), MemberEdit::Replace(b)) => *last = MemberEdit::Replace(b),
            (_, e) => out.push(e),
        }
    }
    out
}

fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key)
        .or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

#[cfg(test)]
mod tests;
