//! In-memory evaluation of filters over rendered SCIM resources. The semantics are those of
//! `resolve`; `to_sql` implements the same ones in SQL, and a property test holds them equal.

use serde_json::Value;

use super::ast::Filter;
use super::parser::FilterError;
use super::resolve::{self, Loc, Multi, Node, Op, Operand, Scalar};
use crate::scim::schema::{AttrType, ResolvedAttr, ResourceKind};

/// Checks a filter against the schema of `kind`: unknown attributes, operators that do not
/// apply to the attribute's type and malformed values are errors (400 `invalidFilter`).
pub fn validate(filter: &Filter, kind: ResourceKind) -> Result<(), FilterError> {
    resolve::resolve(filter, kind).map(|_| ())
}

/// Checks a value filter (`emails[type eq "work"]`) against the sub-attributes of `parent`.
pub fn validate_element(filter: &Filter, parent: &ResolvedAttr) -> Result<(), FilterError> {
    resolve::resolve_element(filter, multi_of(parent)).map(|_| ())
}

/// Whether a rendered resource (as returned to a client: `id`, `meta`, `members`/`groups`,
/// extension objects under their URN) matches. Keys are looked up case-insensitively. A filter
/// that does not validate matches nothing; call `validate` first to report why.
pub fn matches(filter: &Filter, kind: ResourceKind, resource: &Value) -> bool {
    match resolve::resolve(filter, kind) {
        Ok(node) => eval(&node, resource, None),
        Err(_) => false,
    }
}

/// Whether one element of the multi-valued attribute `parent` matches a value filter whose
/// paths name sub-attributes of `parent` (`type eq "work"`, `value eq "u1"`). Used by PATCH
/// for `emails[type eq "work"]` and `members[value eq "x"]`.
pub fn matches_element(filter: &Filter, _kind: ResourceKind, parent: &ResolvedAttr, element: &Value) -> bool {
    match resolve::resolve_element(filter, multi_of(parent)) {
        Ok(node) => eval(&node, element, Some(element)),
        Err(_) => false,
    }
}

fn multi_of(parent: &ResolvedAttr) -> Multi {
    Multi {
        ext: parent.extension,
        attr: parent.attr,
    }
}

pub(crate) fn eval(node: &Node, root: &Value, elem: Option<&Value>) -> bool {
    match node {
        Node::Const(b) => *b,
        Node::And(l, r) => eval(l, root, elem) && eval(r, root, elem),
        Node::Or(l, r) => eval(l, root, elem) || eval(r, root, elem),
        Node::Not(inner) => !eval(inner, root, elem),
        Node::Present(s) => lookup(root, elem, s).is_some_and(|v| present(s, v)),
        Node::Cmp(s, op, operand) => lookup(root, elem, s).is_some_and(|v| compare(s, v, *op, operand)),
        Node::Exists(m, inner) => {
            let container = match m.ext {
                Some(ext) => get_ci(root, ext.id),
                None => Some(root),
            };
            // Non-array values (never stored by the model) have no elements, as in SQL.
            match container.and_then(|c| get_ci(c, m.attr.name)) {
                Some(Value::Array(items)) => items.iter().any(|item| eval(inner, root, Some(item))),
                _ => false,
            }
        }
    }
}

/// Object member by name: the exact key if present, else the first key equal ignoring ASCII
/// case (RFC 7643 §2.1: attribute names are case-insensitive).
pub(crate) fn get_ci<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = value.as_object()?;
    obj.get(key)
        .or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

fn lookup<'a>(root: &'a Value, elem: Option<&'a Value>, s: &Scalar) -> Option<&'a Value> {
    let v = match s.loc {
        Loc::Elem(sub) => get_ci(elem?, sub.name)?,
        Loc::Doc { ext, attr, sub } => {
            let container = match ext {
                Some(ext) => get_ci(root, ext.id)?,
                None => root,
            };
            let v = get_ci(container, attr.name)?;
            match sub {
                Some(sub) => get_ci(v, sub.name)?,
                None => v,
            }
        }
    };
    if v.is_null() { None } else { Some(v) }
}

/// RFC 7644 §3.4.2.2 `pr`: a non-empty value. Empty strings are stored by the model (a client
/// may send `"nickName": ""`), so they count as absent here and in SQL.
fn present(s: &Scalar, v: &Value) -> bool {
    match (s.def.ty, v) {
        (AttrType::Boolean, _) => true,
        (_, Value::String(text)) => !text.is_empty(),
        _ => true,
    }
}

fn compare(s: &Scalar, v: &Value, op: Op, operand: &Operand) -> bool {
    match operand {
        Operand::Bool(b) => op == Op::Eq && v.as_bool() == Some(*b),
        Operand::Num(n) => v.as_f64().is_some_and(|x| ordered(op, x.partial_cmp(n))),
        Operand::Str(needle) => {
            let Some(text) = v.as_str() else { return false };
            let text = if s.def.ty == AttrType::DateTime {
                resolve::canonical_datetime(text).unwrap_or_else(|| text.to_string())
            } else if s.folds() {
                text.to_lowercase()
            } else {
                text.to_string()
            };
            match op {
                Op::Co => text.contains(needle.as_str()),
                Op::Sw => text.starts_with(needle.as_str()),
                Op::Ew => text.ends_with(needle.as_str()),
                // Byte order of UTF-8 is code point order, which is what SQLite's BINARY
                // collation and PostgreSQL's "C" collation use too.
                _ => ordered(op, Some(text.as_str().cmp(needle.as_str()))),
            }
        }
    }
}

fn ordered(op: Op, ord: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match (op, ord) {
        (_, None) => false,
        (Op::Eq, Some(o)) => o == Equal,
        (Op::Gt, Some(o)) => o == Greater,
        (Op::Ge, Some(o)) => o != Less,
        (Op::Lt, Some(o)) => o == Less,
        (Op::Le, Some(o)) => o != Greater,
        (Op::Co | Op::Sw | Op::Ew, Some(_)) => false,
    }
}
