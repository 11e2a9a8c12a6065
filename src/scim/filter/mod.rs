//! TEMPORARY placeholder with the filter module's interface; replaced by the real parser,
//! evaluator and SQL translator.
use super::schema::{ResolvedAttr, ResourceKind};

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare(AttrPath, CompareOp, CompValue),
    ValuePath(AttrPath, Box<Filter>),
}
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Bool(bool),
    Num(serde_json::Number),
    Null,
}
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct FilterError {
    pub message: String,
    pub position: Option<usize>,
}
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub_attr: Option<String>,
}
pub enum Dialect {
    Sqlite,
    Postgres,
}
pub enum SqlParam {
    Text(String),
    Int(i64),
    Real(f64),
    Bool(bool),
}
pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<SqlParam>,
}
fn err(m: &str) -> FilterError {
    FilterError {
        message: m.to_string(),
        position: None,
    }
}
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    let (a, rest) = input.trim().split_once(' ').ok_or_else(|| err("bad"))?;
    let (op, v) = rest.trim().split_once(' ').ok_or_else(|| err("bad"))?;
    if !op.eq_ignore_ascii_case("eq") {
        return Err(err("only eq"));
    }
    let v: String = serde_json::from_str(v.trim()).map_err(|_| err("bad value"))?;
    Ok(Filter::Compare(path(a), CompareOp::Eq, CompValue::Str(v)))
}
fn path(s: &str) -> AttrPath {
    let (urn, rest) = match s.rfind(':') {
        Some(p) => (Some(s[..p].to_string()), &s[p + 1..]),
        None => (None, s),
    };
    match rest.split_once('.') {
        Some((a, b)) => AttrPath {
            urn,
            attr: a.into(),
            sub: Some(b.into()),
        },
        None => AttrPath {
            urn,
            attr: rest.into(),
            sub: None,
        },
    }
}
pub fn parse_path(input: &str) -> Result<PatchPath, FilterError> {
    if let Some((a, rest)) = input.split_once('[') {
        let (f, after) = rest.rsplit_once(']').ok_or_else(|| err("bad"))?;
        let sub = after.strip_prefix('.').map(str::to_string);
        return Ok(PatchPath {
            attr: path(a),
            filter: Some(parse(f)?),
            sub_attr: sub,
        });
    }
    Ok(PatchPath {
        attr: path(input),
        filter: None,
        sub_attr: None,
    })
}
pub fn matches_element(f: &Filter, _k: ResourceKind, _p: &ResolvedAttr, el: &serde_json::Value) -> bool {
    match f {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(s)) => {
            el.get(&p.attr).and_then(|v| v.as_str()) == Some(s.as_str())
        }
        _ => false,
    }
}
pub fn to_sql(f: &Filter, kind: ResourceKind, _d: Dialect, first: usize) -> Result<SqlFilter, FilterError> {
    match f {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(s)) => {
            let col = match (kind, p.attr.to_ascii_lowercase().as_str()) {
                (ResourceKind::User, "username") => {
                    return Ok(SqlFilter {
                        sql: format!("r.user_name_lower = ?{first}"),
                        params: vec![SqlParam::Text(s.to_lowercase())],
                    });
                }
                (ResourceKind::Group, "displayname") => {
                    return Ok(SqlFilter {
                        sql: format!("r.display_name_lower = ?{first}"),
                        params: vec![SqlParam::Text(s.to_lowercase())],
                    });
                }
                (_, "externalid") => "r.external_id",
                (_, "id") => "r.id",
                _ => return Err(err("unsupported")),
            };
            Ok(SqlFilter {
                sql: format!("{col} = ?{first}"),
                params: vec![SqlParam::Text(s.clone())],
            })
        }
        _ => Err(err("unsupported")),
    }
}
pub fn sort_expr(_p: &AttrPath, _k: ResourceKind, _d: Dialect) -> Result<String, FilterError> {
    Err(err("unsupported"))
}
