//! Translation of filters to parameterised SQL over the `scim_users` / `scim_groups` tables
//! (aliased `r`) and `scim_group_members`, for SQLite and PostgreSQL.
//!
//! Every predicate produced is two-valued (never NULL): a comparison on a nullable expression
//! is guarded with `expr IS NOT NULL AND …`, so `NOT (…)` over an absent attribute gives the
//! same answer as the evaluator. Values only ever travel as bind parameters; the SQL text holds nothing but
//! schema names (static) and the generated placeholders.
//!
//! Case-insensitive attributes compare `lower(expr)` with a value lower-cased in Rust. SQLite's
//! `lower()` folds ASCII only, so on SQLite a non-ASCII value of a case-insensitive attribute
//! stored in `doc` matches only in the case it was stored in; `userName` and a Group's
//! `displayName` avoid this through columns lower-cased by the application.

use super::ast::{AttrPath, Filter};
use super::parser::FilterError;
use super::resolve::{self, Loc, Multi, Node, Op, Operand, Scalar};
use crate::scim::schema::{self, AttrDef, AttrType, ResourceKind, SchemaDef};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A bind parameter, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlParam {
    Text(String),
    Int(i64),
    Real(f64),
    Bool(bool),
}

/// A boolean SQL expression over `r` and the parameters it uses, numbered from the
/// `first_param` given to `to_sql`.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<SqlParam>,
}

/// Translates `filter` to a WHERE-clause expression for `FROM scim_users r` or
/// `FROM scim_groups r`. The caller adds `r.tenant = <param>` itself and binds `params` in
/// order after its own; placeholders are `?N` (SQLite) or `$N` (PostgreSQL) from `first_param`.
pub fn to_sql(
    filter: &Filter,
    kind: ResourceKind,
    dialect: Dialect,
    first_param: usize,
) -> Result<SqlFilter, FilterError> {
    let node = resolve::resolve(filter, kind)?;
    let mut g = Gen {
        dialect,
        kind,
        next: first_param,
        params: Vec::new(),
    };
    let sql = g.node(&node, None);
    Ok(SqlFilter { sql, params: g.params })
}

/// The ORDER BY expression for `sortBy` (RFC 7644 §3.4.2.3). A multi-valued attribute sorts by
/// the `value` (or the named sub-attribute) of its primary element, else its first element.
/// Case-insensitive attributes sort by their lower-cased text; PostgreSQL text sorts with the
/// "C" collation so that both databases page in the same order.
///
/// The expression is NULL for resources without a value; RFC 7644 puts those last when
/// ascending and first when descending, so append `ASC NULLS LAST` / `DESC NULLS FIRST`
/// (both databases accept it), then `r.id` for a stable order.
pub fn sort_expr(path: &AttrPath, kind: ResourceKind, dialect: Dialect) -> Result<String, FilterError> {
    // Resolution of `path pr` performs every check a sort key needs (known, filterable).
    let present = Filter::Present(path.clone());
    resolve::resolve(&present, kind)?;
    let base = schema::resolve(kind, path.urn.as_deref(), &path.attr, path.sub.as_deref())
        .ok_or_else(|| FilterError::semantic(format!("unknown attribute \"{path}\" for {} resources", kind.name())))?;
    let (ext, attr) = (base.extension, base.attr);
    let sub = match base.sub {
        Some(sub) => Some(sub),
        None if attr.is_complex() => Some(attr.sub_attr("value").ok_or_else(|| {
            FilterError::semantic(format!(
                "cannot sort by the complex attribute \"{path}\"; name a sub-attribute"
            ))
        })?),
        None => None,
    };
    let g = Gen {
        dialect,
        kind,
        next: 1,
        params: Vec::new(),
    };
    if !attr.multi {
        let def = sub.unwrap_or(attr);
        let s = Scalar {
            loc: Loc::Doc { ext, attr, sub },
            def,
        };
        return Ok(g.sort_key(&s, None));
    }
    let Some(sub) = sub else {
        return Err(FilterError::semantic(format!("cannot sort by \"{path}\"")));
    };
    let m = Multi { ext, attr };
    let s = Scalar {
        loc: Loc::Elem(sub),
        def: sub,
    };
    let src = g.elem_source(m);
    let key = g.sort_key(&s, Some(src));
    Ok(match src {
        ElemSource::Members | ElemSource::Groups => {
            // Memberships have no order and no primary: the smallest value is the "first".
            format!(
                "(SELECT MIN({key}) FROM {})",
                g.membership_from(src, sub.name == "display")
            )
        }
        ElemSource::Doc(m) => {
            let primary = attr.sub_attr("primary").map(|p| g.elem_value(p));
            match dialect {
                Dialect::Sqlite => {
                    let path = sqlite_path(m.ext, m.attr, None);
                    let primary = primary.map(|p| format!("COALESCE({p}, 0) DESC, ")).unwrap_or_default();
                    format!(
                        "(SELECT {key} FROM json_each(r.doc, {path}) e WHERE json_type(r.doc, {path}) = 'array' \
                         ORDER BY {primary}CAST(e.key AS INTEGER) LIMIT 1)"
                    )
                }
                Dialect::Postgres => {
                    let arr = pg_json(m.ext, m.attr, None);
                    let primary = primary
                        .map(|p| format!("COALESCE({p} = 'true', FALSE) DESC, "))
                        .unwrap_or_default();
                    format!(
                        "(SELECT {key} FROM jsonb_array_elements(CASE WHEN jsonb_typeof({arr}) = 'array' THEN {arr} END) \
                         WITH ORDINALITY AS e(v, n) ORDER BY {primary}e.n LIMIT 1)"
                    )
                }
            }
        }
    })
}

/// Where the elements of an `Exists` come from.
#[derive(Debug, Clone, Copy)]
enum ElemSource {
    /// A JSON array in `doc`, iterated as alias `e`.
    Doc(Multi),
    /// A Group's `members`: rows of scim_group_members `m`, joined to the member user `u`.
    Members,
    /// A User's `groups`: rows of scim_group_members `m`, joined to the group `g`.
    Groups,
}

/// How a scalar expression behaves in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repr {
    Text,
    /// A text column the application stores lower-cased with Rust's Unicode `to_lowercase`.
    LowerText,
    /// `r.active`: INTEGER 0/1 in SQLite, BOOLEAN in PostgreSQL, never NULL.
    BoolColumn,
    /// A JSON boolean: 1/0 from SQLite's json_extract, 'true'/'false' from PostgreSQL's `->>`.
    JsonBool,
    Number,
}

/// A scalar's SQL expression. `nullable` is false for NOT NULL columns and constants.
struct Expr {
    sql: String,
    repr: Repr,
    nullable: bool,
}

struct Gen {
    dialect: Dialect,
    kind: ResourceKind,
    next: usize,
    params: Vec<SqlParam>,
}

impl Gen {
    fn param(&mut self, p: SqlParam) -> String {
        let n = self.next;
        self.next += 1;
        self.params.push(p);
        match self.dialect {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    fn text(&mut self, s: &str) -> String {
        self.param(SqlParam::Text(s.to_string()))
    }

    fn falsy(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "0",
            Dialect::Postgres => "FALSE",
        }
    }

    fn node(&mut self, node: &Node, src: Option<ElemSource>) -> String {
        match node {
            Node::Const(true) => self.truthy().to_string(),
            Node::Const(false) => self.falsy().to_string(),
            Node::And(l, r) => format!("({} AND {})", self.node(l, src), self.node(r, src)),
            Node::Or(l, r) => format!("({} OR {})", self.node(l, src), self.node(r, src)),
            Node::Not(inner) => format!("(NOT {})", self.node(inner, src)),
            Node::Present(s) => self.present(s, src),
            Node::Cmp(s, op, operand) => self.compare(s, *op, operand, src),
            Node::Exists(m, inner) => {
                let src = self.elem_source(*m);
                let cond = self.node(inner, Some(src));
                match src {
                    ElemSource::Members | ElemSource::Groups => {
                        let join = uses_display(inner);
                        format!("EXISTS (SELECT 1 FROM {} AND {cond})", self.membership_from(src, join))
                    }
                    ElemSource::Doc(m) => match self.dialect {
                        Dialect::Sqlite => {
                            let path = sqlite_path(m.ext, m.attr, None);
                            format!(
                                "EXISTS (SELECT 1 FROM json_each(r.doc, {path}) e \
                                 WHERE json_type(r.doc, {path}) = 'array' AND {cond})"
                            )
                        }
                        Dialect::Postgres => {
                            let arr = pg_json(m.ext, m.attr, None);
                            format!(
                                "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof({arr}) = 'array' \
                                 THEN {arr} END) AS e(v) WHERE {cond})"
                            )
                        }
                    },
                }
            }
        }
    }

    fn truthy(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "1",
            Dialect::Postgres => "TRUE",
        }
    }

    fn elem_source(&self, m: Multi) -> ElemSource {
        match (self.kind, m.ext, m.attr.name) {
            (ResourceKind::Group, None, "members") => ElemSource::Members,
            (ResourceKind::User, None, "groups") => ElemSource::Groups,
            _ => ElemSource::Doc(m),
        }
    }

    /// `scim_group_members m [JOIN …] WHERE <correlation>`; the caller appends `AND …`.
    fn membership_from(&self, src: ElemSource, join: bool) -> String {
        if let ElemSource::Members = src {
            let join = if join {
                " JOIN scim_users u ON u.tenant = m.tenant AND u.id = m.member_id"
            } else {
                ""
            };
            format!("scim_group_members m{join} WHERE m.tenant = r.tenant AND m.group_id = r.id")
        } else {
            let join = if join {
                " JOIN scim_groups g ON g.tenant = m.tenant AND g.id = m.group_id"
            } else {
                ""
            };
            format!("scim_group_members m{join} WHERE m.tenant = r.tenant AND m.member_id = r.id")
        }
    }

    /// The SQL expression of a scalar and how it behaves.
    fn scalar(&self, s: &Scalar, src: Option<ElemSource>) -> Expr {
        let json_repr = match s.def.ty {
            AttrType::Boolean => Repr::JsonBool,
            AttrType::Integer | AttrType::Decimal => Repr::Number,
            _ => Repr::Text,
        };
        let nullable = |sql: String, repr| Expr {
            sql,
            repr,
            nullable: true,
        };
        let not_null = |sql: &str, repr| Expr {
            sql: sql.to_string(),
            repr,
            nullable: false,
        };
        match s.loc {
            Loc::Doc { ext, attr, sub } => match (self.kind, ext.is_some(), attr.name, sub.map(|d| d.name)) {
                (_, false, "id", None) => not_null("r.id", Repr::Text),
                (_, false, "externalId", None) => nullable("r.external_id".to_string(), Repr::Text),
                (ResourceKind::User, false, "userName", None) => not_null("r.user_name_lower", Repr::LowerText),
                (ResourceKind::Group, false, "displayName", None) => not_null("r.display_name_lower", Repr::LowerText),
                (ResourceKind::User, false, "active", None) => not_null("r.active", Repr::BoolColumn),
                (_, false, "meta", Some("created")) => not_null("r.created", Repr::Text),
                (_, false, "meta", Some("lastModified")) => not_null("r.last_modified", Repr::Text),
                (kind, false, "meta", Some("resourceType")) => not_null(&sql_literal(kind.name()), Repr::Text),
                _ => {
                    let sql = match self.dialect {
                        Dialect::Sqlite => format!("json_extract(r.doc, {})", sqlite_path(ext, attr, sub)),
                        Dialect::Postgres => pg_text(ext, attr, sub),
                    };
                    nullable(sql, json_repr)
                }
            },
            Loc::Elem(sub) => match (src, sub.name) {
                (Some(ElemSource::Members), "value") => not_null("m.member_id", Repr::Text),
                // The rendered member `display` is the user's displayName, else userName.
                (Some(ElemSource::Members), "display") => not_null("COALESCE(u.display_name, u.user_name)", Repr::Text),
                (Some(ElemSource::Members), _) => not_null(&sql_literal("User"), Repr::Text),
                (Some(ElemSource::Groups), "value") => not_null("m.group_id", Repr::Text),
                (Some(ElemSource::Groups), "display") => not_null("g.display_name_lower", Repr::LowerText),
                // Groups do not nest, so every membership is direct.
                (Some(ElemSource::Groups), _) => not_null(&sql_literal("direct"), Repr::Text),
                (Some(ElemSource::Doc(_)) | None, _) => nullable(self.elem_value(sub), json_repr),
            },
        }
    }

    /// A sub-attribute of the current `doc` array element.
    fn elem_value(&self, sub: &AttrDef) -> String {
        match self.dialect {
            // json_each yields non-object elements as bare SQL values, which json_extract
            // would reject as malformed JSON; they have no sub-attributes.
            Dialect::Sqlite => format!(
                "(CASE WHEN e.type = 'object' THEN json_extract(e.value, {}) END)",
                sql_literal(&format!("$.{}", json_key(sub.name)))
            ),
            Dialect::Postgres => format!("(e.v ->> {})", sql_literal(sub.name)),
        }
    }

    /// Makes `cond` (NULL only when `e` is NULL, since parameters never are) two-valued:
    /// `e IS NOT NULL AND cond` is false rather than NULL for an absent value. Unlike
    /// `COALESCE(cond, false)` it leaves `r.user_name_lower = ?` visible to the planner, so
    /// the `userName eq` and `externalId eq` lookups IdPs send before every create use the
    /// (tenant, user_name_lower) and (tenant, external_id) indexes.
    fn two_valued(e: &Expr, cond: String) -> String {
        if e.nullable {
            format!("({} IS NOT NULL AND {cond})", e.sql)
        } else {
            format!("({cond})")
        }
    }

    fn present(&self, s: &Scalar, src: Option<ElemSource>) -> String {
        let e = self.scalar(s, src);
        match e.repr {
            Repr::Text | Repr::LowerText => Self::two_valued(&e, format!("{} <> ''", e.sql)),
            Repr::BoolColumn | Repr::JsonBool | Repr::Number => format!("({} IS NOT NULL)", e.sql),
        }
    }

    fn compare(&mut self, s: &Scalar, op: Op, operand: &Operand, src: Option<ElemSource>) -> String {
        let e = self.scalar(s, src);
        let cond = match operand {
            Operand::Bool(b) => {
                let rhs = match (e.repr, self.dialect, b) {
                    (Repr::BoolColumn, Dialect::Postgres, true) => "TRUE",
                    (Repr::BoolColumn, Dialect::Postgres, false) => "FALSE",
                    (_, Dialect::Sqlite, true) => "1",
                    (_, Dialect::Sqlite, false) => "0",
                    (_, Dialect::Postgres, true) => "'true'",
                    (_, Dialect::Postgres, false) => "'false'",
                };
                format!("{} = {rhs}", e.sql)
            }
            Operand::Num(n) => {
                let p = self.param(SqlParam::Real(*n));
                match self.dialect {
                    Dialect::Sqlite => format!("{} {} {p}", e.sql, sql_op(op)),
                    Dialect::Postgres => format!("CAST({} AS double precision) {} {p}", e.sql, sql_op(op)),
                }
            }
            Operand::Str(v) => {
                let lhs = if s.folds() && e.repr == Repr::Text {
                    format!("lower({})", e.sql)
                } else {
                    e.sql.clone()
                };
                match (op, self.dialect) {
                    (Op::Co, Dialect::Sqlite) => format!("instr({lhs}, {}) > 0", self.text(v)),
                    (Op::Co, Dialect::Postgres) => format!("strpos({lhs}, {}) > 0", self.text(v)),
                    (Op::Sw, Dialect::Sqlite) => {
                        let (a, b) = (self.text(v), self.text(v));
                        format!("substr({lhs}, 1, length({a})) = {b}")
                    }
                    (Op::Sw, Dialect::Postgres) => format!("starts_with({lhs}, {})", self.text(v)),
                    (Op::Ew, Dialect::Sqlite) => {
                        let (a, b, c) = (self.text(v), self.text(v), self.text(v));
                        format!("length({lhs}) >= length({a}) AND substr({lhs}, length({lhs}) - length({b}) + 1) = {c}")
                    }
                    (Op::Ew, Dialect::Postgres) => {
                        let (a, b) = (self.text(v), self.text(v));
                        format!("right({lhs}, length({a})) = {b}")
                    }
                    (Op::Eq, _) | (_, Dialect::Sqlite) => format!("{lhs} {} {}", sql_op(op), self.text(v)),
                    // Ordering uses the "C" collation: code point order, as in SQLite and Rust.
                    (_, Dialect::Postgres) => format!("({lhs} COLLATE \"C\") {} {}", sql_op(op), self.text(v)),
                }
            }
        };
        Self::two_valued(&e, cond)
    }

    fn sort_key(&self, s: &Scalar, src: Option<ElemSource>) -> String {
        let e = self.scalar(s, src);
        let sql = if s.folds() && e.repr == Repr::Text {
            format!("lower({})", e.sql)
        } else {
            e.sql
        };
        match (self.dialect, e.repr) {
            (Dialect::Postgres, Repr::Text | Repr::LowerText) => format!("({sql} COLLATE \"C\")"),
            _ => sql,
        }
    }
}

fn sql_op(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Lt => "<",
        Op::Le => "<=",
        // Substring operators are rendered by `compare` itself.
        Op::Co | Op::Sw | Op::Ew => "=",
    }
}

/// Whether a membership condition reads `display`, which needs the join to the other table.
fn uses_display(node: &Node) -> bool {
    match node {
        Node::Const(_) => false,
        Node::And(l, r) | Node::Or(l, r) => uses_display(l) || uses_display(r),
        Node::Not(inner) | Node::Exists(_, inner) => uses_display(inner),
        Node::Present(s) | Node::Cmp(s, ..) => matches!(s.loc, Loc::Elem(d) if d.name == "display"),
    }
}

/// A SQL string literal. Only schema names reach it, never client input.
fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A quoted member name of a SQLite JSON path (`."urn:…:2.0:User"`: URNs contain `:` and `.`).
fn json_key(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\\\""))
}

fn sqlite_path(ext: Option<&SchemaDef>, attr: &AttrDef, sub: Option<&AttrDef>) -> String {
    let mut path = "$".to_string();
    for key in ext
        .map(|e| e.id)
        .into_iter()
        .chain([attr.name])
        .chain(sub.map(|s| s.name))
    {
        path.push('.');
        path.push_str(&json_key(key));
    }
    sql_literal(&path)
}

/// `r.doc -> 'k1' -> … -> 'kn'` (jsonb).
fn pg_json(ext: Option<&SchemaDef>, attr: &AttrDef, sub: Option<&AttrDef>) -> String {
    let mut expr = "r.doc".to_string();
    for key in ext
        .map(|e| e.id)
        .into_iter()
        .chain([attr.name])
        .chain(sub.map(|s| s.name))
    {
        expr.push_str(" -> ");
        expr.push_str(&sql_literal(key));
    }
    format!("({expr})")
}

/// `(r.doc -> 'k1' … ->> 'kn')` (text).
fn pg_text(ext: Option<&SchemaDef>, attr: &AttrDef, sub: Option<&AttrDef>) -> String {
    let keys: Vec<&str> = ext
        .map(|e| e.id)
        .into_iter()
        .chain([attr.name])
        .chain(sub.map(|s| s.name))
        .collect();
    let mut expr = "r.doc".to_string();
    for (i, key) in keys.iter().enumerate() {
        expr.push_str(if i + 1 == keys.len() { " ->> " } else { " -> " });
        expr.push_str(&sql_literal(key));
    }
    format!("({expr})")
}
