//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): parsed to a typed AST, checked
//! against the schema, evaluated in memory (PATCH value filters, tests) and translated to
//! parameterised SQL for SQLite and PostgreSQL (list queries, `sortBy`).
//!
//! `matches` and `to_sql` share one resolution step (`resolve`), and a property test runs
//! random filters over random data through both to keep them in agreement.

mod ast;
mod eval;
mod parser;
mod resolve;
mod sql;

#[cfg(test)]
mod tests;

pub use ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
pub use eval::{matches, matches_element, validate, validate_element};
pub use parser::{FilterError, MAX_DEPTH, MAX_FILTER_LEN, parse, parse_path};
pub use sql::{Dialect, SqlFilter, SqlParam, sort_expr, to_sql};
