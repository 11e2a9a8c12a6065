//! A `filter` query parameter (or a SearchRequest's `filter`) as the list handler reads it:
//! parsed, then translated to SQL for Users and Groups on SQLite and PostgreSQL, as the store
//! does, and evaluated in memory, as PATCH value filters are. The same text also goes through
//! the PATCH path parser, `sortBy` resolution and the `attributes` / `excludedAttributes`
//! projection, the other query parameters that name attribute paths.
//!
//! Beyond "never panics", two properties that the property tests check on generated filters
//! are checked here on arbitrary text: a parsed filter prints back to text that parses to the
//! same tree, and the SQL names exactly the placeholders whose values it binds.
#![no_main]

use cic_bridge::scim::filter::{self, Dialect, MAX_FILTER_LEN};
use cic_bridge::scim::model::Projection;
use cic_bridge::scim::schema::{self, ResourceKind};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// Parameters the store binds before the filter's own (`r.tenant = $1`, and one spare).
const FIRST_PARAM: usize = 2;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The handler trims the parameter and treats an empty one as no filter.
    let text = text.trim();
    if let Ok(parsed) = filter::parse(text) {
        let printed = parsed.to_string();
        if printed.len() <= MAX_FILTER_LEN {
            assert_eq!(
                filter::parse(&printed).as_ref(),
                Ok(&parsed),
                "{text:?} printed as {printed:?}"
            );
        }
        for (kind, doc) in [(ResourceKind::User, user()), (ResourceKind::Group, group())] {
            let valid = filter::validate(&parsed, kind);
            for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                let sql = filter::to_sql(&parsed, kind, dialect, FIRST_PARAM);
                // The evaluator and the translator share resolution: both accept or neither.
                assert_eq!(valid.is_ok(), sql.is_ok(), "{text:?}: {valid:?} vs {sql:?}");
                if let Ok(sql) = sql {
                    check_placeholders(&sql.sql, sql.params.len(), dialect);
                }
            }
            if valid.is_ok() {
                let _ = filter::matches(&parsed, kind, &doc);
            }
        }
    }
    let _ = filter::parse_path(text);
    for (kind, doc) in [(ResourceKind::User, user()), (ResourceKind::Group, group())] {
        let (urn, attr, sub) = schema::split_path(kind, text);
        let path = filter::AttrPath { urn, attr, sub };
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let _ = filter::sort_expr(&path, kind, dialect);
        }
        let _ = Projection::parse(kind, Some(text), None).apply(doc.clone());
        let _ = Projection::parse(kind, None, Some(text)).apply(doc);
    }
});

/// Every placeholder from `FIRST_PARAM` to the last bound value appears, and no other.
fn check_placeholders(sql: &str, params: usize, dialect: Dialect) {
    let sigil = match dialect {
        Dialect::Sqlite => '?',
        Dialect::Postgres => '$',
    };
    let mut seen = vec![false; params];
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != sigil {
            continue;
        }
        let mut n = 0usize;
        let mut digits = 0;
        while let Some((_, d)) = chars.peek().copied().filter(|(_, d)| d.is_ascii_digit()) {
            n = n * 10 + d.to_digit(10).unwrap_or(0) as usize;
            digits += 1;
            chars.next();
        }
        assert!(digits > 0, "a bare {sigil} in {sql}");
        assert!(
            n >= FIRST_PARAM && n < FIRST_PARAM + params,
            "placeholder {sigil}{n} outside {FIRST_PARAM}..{} in {sql}",
            FIRST_PARAM + params
        );
        seen[n - FIRST_PARAM] = true;
    }
    assert!(seen.iter().all(|s| *s), "unused parameters in {sql}: {seen:?}");
}

/// A stored User with every kind of attribute a filter can reach.
fn user() -> Value {
    json!({
        "userName": "Ann.Smith@corp.example",
        "externalId": "00u1",
        "displayName": "Ann Smith",
        "active": true,
        "name": {"givenName": "Ann", "familyName": "Smith"},
        "emails": [
            {"value": "ann@corp.example", "type": "work", "primary": true},
            {"value": "ann@home.example", "type": "home"}
        ],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
        "addresses": [{"type": "work", "locality": "Zürich", "country": "CH"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Finance",
            "employeeNumber": "42",
            "manager": {"value": "u-2", "displayName": "Bob"}
        },
        "id": "u-1",
        "meta": {"created": "2024-01-02T03:04:05Z", "lastModified": "2024-05-06T07:08:09.123Z"}
    })
}

fn group() -> Value {
    json!({
        "displayName": "Finance Admins",
        "externalId": "g-ext",
        "members": [{"value": "u-1", "display": "Ann Smith", "type": "User"}],
        "id": "g-1",
        "meta": {"created": "2024-01-02T03:04:05Z", "lastModified": "2024-01-02T03:04:05Z"}
    })
}
