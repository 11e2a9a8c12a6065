//! Resolution of a parsed filter against the schema into a typed tree that the evaluator and the
//! SQL translator both walk. Every semantic decision (what `ne` and `eq null` mean, which
//! sub-attribute a bare multi-valued attribute compares, how values are coerced and
//! case-folded) is made once here, which is what keeps `matches` and `to_sql` in agreement.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::ast::{AttrPath, CompValue, CompareOp, Filter};
use super::parser::FilterError;
use crate::scim::schema::{self, AttrDef, AttrType, ResourceKind, Returned, SchemaDef};

/// A two-valued predicate over one resource (or one element of a multi-valued attribute).
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Const(bool),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Present(Scalar),
    Cmp(Scalar, Op, Operand),
    /// Some element of a multi-valued attribute satisfies the inner node, whose scalars are
    /// all `Loc::Elem`.
    Exists(Multi, Box<Node>),
}

/// Comparison operators after resolution: `ne` has become `not eq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A comparison value coerced to the attribute's type. Strings of case-insensitive attributes
/// are already lower-cased; dateTimes are in the storage form (UTC, 6 fractional digits).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Str(String),
    Bool(bool),
    Num(f64),
}

/// One single-valued scalar: where it lives and its definition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scalar {
    pub loc: Loc,
    pub def: &'static AttrDef,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Loc {
    /// A top-level attribute, or a sub-attribute of a single-valued complex attribute, under
    /// an extension URN when `ext` is set.
    Doc {
        ext: Option<&'static SchemaDef>,
        attr: &'static AttrDef,
        sub: Option<&'static AttrDef>,
    },
    /// A sub-attribute of the element being tested by the enclosing `Exists`.
    Elem(&'static AttrDef),
}

/// A multi-valued (complex) attribute.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Multi {
    pub ext: Option<&'static SchemaDef>,
    pub attr: &'static AttrDef,
}

impl Scalar {
    /// Whether comparisons ignore case: string-like attributes with `caseExact: false`.
    pub fn folds(&self) -> bool {
        is_textual(self.def.ty) && !self.def.case_exact
    }
}

fn is_textual(ty: AttrType) -> bool {
    matches!(ty, AttrType::String | AttrType::Reference | AttrType::Binary)
}

/// Where attribute paths of a filter are resolved.
#[derive(Clone, Copy)]
enum Ctx {
    Resource(ResourceKind),
    /// Inside `attr[…]`, or a PATCH value filter: paths name sub-attributes of `parent`.
    Element(Multi),
}

/// What an attribute path designates, before an operator is applied to it.
enum Target {
    Simple(Scalar),
    /// A single-valued complex attribute without a sub-attribute (`name`, `manager`, `meta`).
    Complex {
        ext: Option<&'static SchemaDef>,
        attr: &'static AttrDef,
    },
    /// A multi-valued attribute without (`emails`) or with (`emails.type`) a sub-attribute.
    Multi(Multi, Option<&'static AttrDef>),
}

pub(crate) fn resolve(filter: &Filter, kind: ResourceKind) -> Result<Node, FilterError> {
    node(filter, Ctx::Resource(kind))
}

pub(crate) fn resolve_element(filter: &Filter, parent: Multi) -> Result<Node, FilterError> {
    if !parent.attr.is_complex() {
        return Err(FilterError::semantic(format!(
            "\"{}\" is not a complex attribute, so a value filter cannot apply to it",
            parent.attr.name
        )));
    }
    node(filter, Ctx::Element(parent))
}

fn node(filter: &Filter, ctx: Ctx) -> Result<Node, FilterError> {
    Ok(match filter {
        Filter::And(l, r) => Node::And(Box::new(node(l, ctx)?), Box::new(node(r, ctx)?)),
        Filter::Or(l, r) => Node::Or(Box::new(node(l, ctx)?), Box::new(node(r, ctx)?)),
        Filter::Not(inner) => Node::Not(Box::new(node(inner, ctx)?)),
        Filter::Present(path) => presence(target(path, ctx)?),
        Filter::Compare(path, op, value) => compare(path, target(path, ctx)?, *op, value)?,
        Filter::ValuePath(path, inner) => {
            let Ctx::Resource(kind) = ctx else {
                return Err(FilterError::semantic(format!(
                    "value filters cannot be nested (\"{path}[…]\")"
                )));
            };
            if path.sub.is_some() {
                return Err(FilterError::semantic(format!(
                    "a value filter must follow the attribute name, not the sub-attribute, in \"{path}[…]\""
                )));
            }
            match target(path, Ctx::Resource(kind))? {
                Target::Multi(multi, None) => Node::Exists(multi, Box::new(node(inner, Ctx::Element(multi))?)),
                _ => {
                    return Err(FilterError::semantic(format!(
                        "\"{path}\" is not a multi-valued attribute, so it cannot take a value filter \"[…]\""
                    )));
                }
            }
        }
    })
}

fn target(path: &AttrPath, ctx: Ctx) -> Result<Target, FilterError> {
    match ctx {
        Ctx::Resource(kind) => resource_target(path, kind),
        Ctx::Element(parent) => {
            if path.urn.is_some() || path.sub.is_some() {
                return Err(FilterError::semantic(format!(
                    "inside the value filter of \"{}\", \"{path}\" must be a plain sub-attribute name such as \"value\" or \"type\"",
                    parent.attr.name
                )));
            }
            let sub = parent.attr.sub_attr(&path.attr).ok_or_else(|| {
                FilterError::semantic(format!(
                    "\"{}\" has no sub-attribute \"{}\"",
                    parent.attr.name, path.attr
                ))
            })?;
            check_filterable(parent.attr, Some(sub))?;
            Ok(Target::Simple(Scalar {
                loc: Loc::Elem(sub),
                def: sub,
            }))
        }
    }
}

fn resource_target(path: &AttrPath, kind: ResourceKind) -> Result<Target, FilterError> {
    if let Some(urn) = &path.urn
        && kind.schema_by_urn(urn).is_none()
    {
        return Err(FilterError::semantic(format!(
            "unknown schema URN \"{urn}\" in attribute path \"{path}\" for {} resources",
            kind.name()
        )));
    }
    let base = schema::resolve(kind, path.urn.as_deref(), &path.attr, None)
        .ok_or_else(|| FilterError::semantic(format!("unknown attribute \"{path}\" for {} resources", kind.name())))?;
    let resolved = match &path.sub {
        None => base,
        Some(sub) => {
            if !base.attr.is_complex() {
                return Err(FilterError::semantic(format!(
                    "\"{}\" is not a complex attribute and has no sub-attribute \"{sub}\"",
                    base.attr.name
                )));
            }
            schema::resolve(kind, path.urn.as_deref(), &path.attr, Some(sub)).ok_or_else(|| {
                FilterError::semantic(format!("\"{}\" has no sub-attribute \"{sub}\"", base.attr.name))
            })?
        }
    };
    check_filterable(resolved.attr, resolved.sub)?;
    let (ext, attr, sub) = (resolved.extension, resolved.attr, resolved.sub);
    Ok(if attr.multi {
        Target::Multi(Multi { ext, attr }, sub)
    } else if let Some(sub) = sub {
        Target::Simple(Scalar {
            loc: Loc::Doc {
                ext,
                attr,
                sub: Some(sub),
            },
            def: sub,
        })
    } else if attr.is_complex() {
        Target::Complex { ext, attr }
    } else {
        Target::Simple(Scalar {
            loc: Loc::Doc { ext, attr, sub: None },
            def: attr,
        })
    })
}

/// Attributes a filter may not name: those never returned (`password`), references (`$ref`,
/// whose value is a server URL) and `meta.location`/`meta.version` (computed on render, not
/// stored, so the database cannot filter them).
fn check_filterable(attr: &AttrDef, sub: Option<&AttrDef>) -> Result<(), FilterError> {
    let shown = match sub {
        Some(s) => format!("{}.{}", attr.name, s.name),
        None => attr.name.to_string(),
    };
    if !is_filterable(attr, sub) {
        return Err(FilterError::semantic(format!("\"{shown}\" cannot be used in a filter")));
    }
    Ok(())
}

fn is_filterable(attr: &AttrDef, sub: Option<&AttrDef>) -> bool {
    let leaf = sub.unwrap_or(attr);
    if attr.returned == Returned::Never || leaf.returned == Returned::Never || leaf.name.starts_with('$') {
        return false;
    }
    !(attr.name == "meta" && matches!(leaf.name, "location" | "version"))
}

/// Sub-attributes that count for presence of a complex value (RFC 7644 §3.4.2.2 `pr`: "a
/// non-empty node"). Only the filterable ones, so that SQL can test exactly the same set.
fn presence_subs(attr: &'static AttrDef) -> impl Iterator<Item = &'static AttrDef> {
    let subs: &'static [AttrDef] = attr.sub;
    subs.iter().filter(move |s| is_filterable(attr, Some(s)))
}

fn any_of(nodes: impl Iterator<Item = Node>) -> Node {
    nodes
        .reduce(|a, b| Node::Or(Box::new(a), Box::new(b)))
        .unwrap_or(Node::Const(false))
}

fn presence(target: Target) -> Node {
    match target {
        Target::Simple(s) => Node::Present(s),
        Target::Complex { ext, attr } => any_of(presence_subs(attr).map(|s| {
            Node::Present(Scalar {
                loc: Loc::Doc {
                    ext,
                    attr,
                    sub: Some(s),
                },
                def: s,
            })
        })),
        Target::Multi(m, Some(sub)) => Node::Exists(
            m,
            Box::new(Node::Present(Scalar {
                loc: Loc::Elem(sub),
                def: sub,
            })),
        ),
        Target::Multi(m, None) => Node::Exists(
            m,
            Box::new(any_of(presence_subs(m.attr).map(|s| {
                Node::Present(Scalar {
                    loc: Loc::Elem(s),
                    def: s,
                })
            }))),
        ),
    }
}

fn compare(path: &AttrPath, target: Target, op: CompareOp, value: &CompValue) -> Result<Node, FilterError> {
    if *value == CompValue::Null {
        // RFC 7644 §3.4.2.2 leaves `null` comparisons open; `eq null` reads naturally as
        // "unassigned" (RFC 7643 §2.5 treats null as unassigned) and `ne null` as present.
        return match op {
            CompareOp::Eq => Ok(Node::Not(Box::new(presence(target)))),
            CompareOp::Ne => Ok(presence(target)),
            _ => Err(FilterError::semantic(format!(
                "\"{path} {op} null\": only eq and ne can compare with null"
            ))),
        };
    }
    // A complex attribute compared without a sub-attribute compares its `value`
    // (RFC 7644 §3.4.2.2: `emails co "x"` means `emails.value co "x"`); `manager eq "id"`
    // follows the same rule.
    let target = match target {
        Target::Complex { ext, attr } => match attr.sub_attr("value") {
            Some(v) => Target::Simple(Scalar {
                loc: Loc::Doc {
                    ext,
                    attr,
                    sub: Some(v),
                },
                def: v,
            }),
            None => return Err(complex_compare(attr)),
        },
        Target::Multi(m, None) => match m.attr.sub_attr("value") {
            Some(v) => Target::Multi(m, Some(v)),
            None => return Err(complex_compare(m.attr)),
        },
        other => other,
    };
    let (positive, negate) = match op {
        CompareOp::Eq => (Op::Eq, false),
        CompareOp::Ne => (Op::Eq, true),
        CompareOp::Co => (Op::Co, false),
        CompareOp::Sw => (Op::Sw, false),
        CompareOp::Ew => (Op::Ew, false),
        CompareOp::Gt => (Op::Gt, false),
        CompareOp::Ge => (Op::Ge, false),
        CompareOp::Lt => (Op::Lt, false),
        CompareOp::Le => (Op::Le, false),
    };
    let node = match target {
        Target::Simple(s) => Node::Cmp(s, positive, operand(path, s, op, value)?),
        Target::Multi(m, Some(sub)) => {
            let s = Scalar {
                loc: Loc::Elem(sub),
                def: sub,
            };
            Node::Exists(m, Box::new(Node::Cmp(s, positive, operand(path, s, op, value)?)))
        }
        Target::Complex { attr, .. } | Target::Multi(Multi { attr, .. }, None) => return Err(complex_compare(attr)),
    };
    // `ne` is the negation of `eq` in every case: true when the attribute is absent, and for a
    // multi-valued attribute true when no element equals the value.
    Ok(if negate { Node::Not(Box::new(node)) } else { node })
}

fn complex_compare(attr: &AttrDef) -> FilterError {
    let example = attr
        .sub
        .first()
        .map(|s| format!(" such as \"{}.{}\"", attr.name, s.name))
        .unwrap_or_default();
    FilterError::semantic(format!(
        "\"{}\" is a complex attribute; compare one of its sub-attributes{example}",
        attr.name
    ))
}

fn operand(path: &AttrPath, s: Scalar, op: CompareOp, value: &CompValue) -> Result<Operand, FilterError> {
    let ty = s.def.ty;
    let ordering = matches!(op, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le);
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    let mismatch = |expected: &str| {
        FilterError::semantic(format!(
            "\"{path}\" is a {} attribute; expected {expected}, got {value}",
            ty.as_str()
        ))
    };
    let unsupported = || {
        FilterError::semantic(format!(
            "operator {op} is not supported for {} attribute \"{path}\"",
            ty.as_str()
        ))
    };
    match ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            // The model stores numbers and booleans sent for string attributes as their text
            // (an employeeNumber sent as 42), so a filter value is coerced the same way.
            let text = match value {
                CompValue::Str(v) => v.clone(),
                CompValue::Num(n) => n.to_string(),
                CompValue::Bool(b) => b.to_string(),
                CompValue::Null => return Err(mismatch("a string")),
            };
            Ok(Operand::Str(if s.folds() { text.to_lowercase() } else { text }))
        }
        AttrType::Boolean => {
            if ordering || substring {
                return Err(unsupported());
            }
            match value {
                CompValue::Bool(b) => Ok(Operand::Bool(*b)),
                // Entra's default mode writes booleans as "True"/"False"; accept them here too.
                CompValue::Str(v) if v.eq_ignore_ascii_case("true") => Ok(Operand::Bool(true)),
                CompValue::Str(v) if v.eq_ignore_ascii_case("false") => Ok(Operand::Bool(false)),
                _ => Err(mismatch("true or false")),
            }
        }
        AttrType::DateTime => {
            if substring {
                return Err(unsupported());
            }
            match value {
                CompValue::Str(v) => canonical_datetime(v).map(Operand::Str).ok_or_else(|| {
                    FilterError::semantic(format!(
                        "\"{v}\" is not an RFC 3339 dateTime (in the filter on \"{path}\")"
                    ))
                }),
                _ => Err(mismatch("an RFC 3339 dateTime string")),
            }
        }
        AttrType::Integer | AttrType::Decimal => {
            if substring {
                return Err(unsupported());
            }
            match value {
                CompValue::Num(n) => n.as_f64().map(Operand::Num).ok_or_else(|| mismatch("a number")),
                _ => Err(mismatch("a number")),
            }
        }
        AttrType::Complex => Err(FilterError::semantic(format!(
            "\"{path}\" is a complex attribute; compare one of its sub-attributes"
        ))),
    }
}

/// The storage form of a timestamp: UTC with exactly six fractional digits, so that text order
/// is time order. Digits beyond microseconds are truncated: stored timestamps have none.
pub(crate) fn canonical_datetime(text: &str) -> Option<String> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    utc.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    ))
    .ok()
}
