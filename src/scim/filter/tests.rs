//! Semantic tests of resolution and evaluation, and the property tests that hold the evaluator
//! and the SQL translation in agreement on random data (SQLite always; PostgreSQL when
//! `TEST_DATABASE_URL` names one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};
use sqlx::{AssertSqlSafe, Connection};

use super::*;
use crate::scim::schema::{self, ENTERPRISE_USER_SCHEMA, ResourceKind};

const ENT: &str = ENTERPRISE_USER_SCHEMA;

fn f(s: &str) -> Filter {
    parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "id": "u1",
        "userName": "Bjensen@Example.com",
        "displayName": "Babs Jensen",
        "nickName": "",
        "active": true,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        ENT: {"department": "Tour Operations", "manager": {"value": "m-1", "displayName": "John Smith"}},
        "groups": [{"value": "g1", "display": "Admins", "type": "direct"}],
        "meta": {"resourceType": "User", "created": "2026-01-01T10:00:00.000000Z",
                 "lastModified": "2026-03-01T00:00:00.000000Z", "location": "https://x/Users/u1", "version": "W/\"3\""}
    })
}

#[test]
fn evaluator_semantics() {
    let u = user();
    let yes = |s: &str| assert!(matches(&f(s), ResourceKind::User, &u), "{s} should match");
    let no = |s: &str| assert!(!matches(&f(s), ResourceKind::User, &u), "{s} should not match");
    yes(r#"userName eq "bjensen@example.com""#);
    yes(r#"USERNAME Eq "BJENSEN@EXAMPLE.COM""#);
    yes(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bjensen""#);
    no(r#"id eq "U1""#); // case-exact
    yes(r#"id eq "u1""#);
    yes(r#"name.familyName co "ens""#);
    yes(r#"emails co "jensen.org""#); // `value` implied
    yes(r#"emails[type eq "work" and value ew "@example.com"]"#);
    no(r#"emails[type eq "home" and value ew "@example.com"]"#);
    yes(r#"emails[type eq "work"].value eq "BJENSEN@example.com""#);
    yes(r#"emails.type eq "home""#);
    no(r#"emails.type ne "home""#); // no element equals → false, some does
    yes(r#"emails.display eq null"#);
    yes(r#"title ne "x""#); // absent → ne is true
    no(r#"title pr"#);
    no(r#"nickName pr"#); // empty string is no value
    yes(r#"nickName eq null"#);
    yes(r#"name pr and emails pr and meta pr"#);
    yes(r#"active eq true and not (active eq false)"#);
    yes(r#"active eq "True""#);
    yes(&format!(r#"{ENT}:department eq "tour operations""#));
    yes(&format!(r#"{ENT}:manager.value eq "m-1""#));
    yes(&format!(r#"{ENT}:manager eq "m-1""#));
    no(&format!(r#"{ENT}:manager.value eq "M-1""#));
    yes(r#"meta.created gt "2026-01-01T09:00:00Z""#);
    yes(r#"meta.created eq "2026-01-01T12:00:00+02:00""#);
    no(r#"meta.created lt "2026-01-01T10:00:00Z""#);
    yes(r#"meta.lastModified ge "2026-03-01T00:00:00Z" and meta.resourceType eq "User""#);
    yes(r#"groups[value eq "g1" and display eq "admins"]"#);
    yes(r#"title eq "x" or displayName co "babs""#);
    yes(r#"displayName gt "Ba" and displayName lt "bb""#);
}

#[test]
fn element_filters_for_patch() {
    let emails = schema::resolve(ResourceKind::User, None, "emails", None).unwrap();
    let members = schema::resolve(ResourceKind::Group, None, "members", None).unwrap();
    let work = json!({"value": "a@b.c", "type": "Work", "primary": true});
    assert!(matches_element(
        &f(r#"type eq "work""#),
        ResourceKind::User,
        &emails,
        &work
    ));
    assert!(matches_element(
        &f(r#"type eq "work" and primary eq true"#),
        ResourceKind::User,
        &emails,
        &work
    ));
    assert!(!matches_element(
        &f(r#"value eq "A@B.C" and not (primary pr)"#),
        ResourceKind::User,
        &emails,
        &work
    ));
    let m = json!({"value": "2819c223", "display": "Babs", "type": "User"});
    assert!(matches_element(
        &f(r#"value eq "2819c223""#),
        ResourceKind::Group,
        &members,
        &m
    ));
    assert!(!matches_element(
        &f(r#"value eq "2819C223""#),
        ResourceKind::Group,
        &members,
        &m
    ));
    assert!(validate_element(&f(r#"value eq "x""#), &members).is_ok());
    assert!(validate_element(&f(r#"nosuch eq "x""#), &members).is_err());
    assert!(validate_element(&f(r#"$ref eq "x""#), &members).is_err());
    assert!(validate_element(&f(r#"members.value eq "x""#), &members).is_err());
}

#[test]
fn semantic_errors_name_the_attribute() {
    let cases: &[(ResourceKind, &str, &str)] = &[
        (ResourceKind::User, r#"nosuch eq "x""#, "unknown attribute \"nosuch\""),
        (
            ResourceKind::User,
            r#"urn:example:custom:1.0:User:badge eq "x""#,
            "unknown schema URN \"urn:example:custom:1.0:User\"",
        ),
        (
            ResourceKind::Group,
            &format!(r#"{ENT}:department eq "x""#),
            "unknown schema URN",
        ),
        (
            ResourceKind::User,
            r#"userName.first eq "x""#,
            "\"userName\" is not a complex attribute",
        ),
        (
            ResourceKind::User,
            r#"name.nosuch eq "x""#,
            "\"name\" has no sub-attribute \"nosuch\"",
        ),
        (
            ResourceKind::User,
            r#"name[givenName eq "x"]"#,
            "\"name\" is not a multi-valued attribute",
        ),
        (
            ResourceKind::User,
            r#"meta.location eq "x""#,
            "\"meta.location\" cannot be used",
        ),
        (
            ResourceKind::User,
            r#"meta.version eq "x""#,
            "\"meta.version\" cannot be used",
        ),
        (ResourceKind::User, r#"password eq "x""#, "\"password\" cannot be used"),
        (
            ResourceKind::Group,
            r#"members.$ref eq "x""#,
            "\"members.$ref\" cannot be used",
        ),
        (
            ResourceKind::Group,
            r#"members[$ref eq "x"]"#,
            "\"members.$ref\" cannot be used",
        ),
        (
            ResourceKind::User,
            "active gt true",
            "operator gt is not supported for boolean attribute \"active\"",
        ),
        (
            ResourceKind::User,
            "active co \"t\"",
            "operator co is not supported for boolean",
        ),
        (ResourceKind::User, "active eq \"yes\"", "expected true or false"),
        (ResourceKind::User, r#"name gt "x""#, "\"name\" is a complex attribute"),
        (
            ResourceKind::User,
            r#"meta.created gt "yesterday""#,
            "not an RFC 3339 dateTime",
        ),
        (
            ResourceKind::User,
            r#"meta.created sw "2026""#,
            "operator sw is not supported for dateTime",
        ),
        (
            ResourceKind::User,
            "title gt null",
            "only eq and ne can compare with null",
        ),
        (
            ResourceKind::User,
            r#"emails[type eq "work" and value.x eq "y"]"#,
            "must be a plain sub-attribute name",
        ),
        (
            ResourceKind::User,
            r#"emails[nosuch pr]"#,
            "\"emails\" has no sub-attribute \"nosuch\"",
        ),
        (
            ResourceKind::Group,
            "active eq true",
            "unknown attribute \"active\" for Group",
        ),
    ];
    for (kind, input, needle) in cases {
        let filter = f(input);
        let e = validate(&filter, *kind).expect_err(input);
        assert!(e.message.contains(needle), "{input}: {e}");
        let sql = to_sql(&filter, *kind, Dialect::Sqlite, 2).expect_err(input);
        assert_eq!(sql, e);
        assert!(!matches(&filter, *kind, &user()));
    }
    // Accepted leniently: numbers and booleans for string attributes compare as their text.
    assert!(validate(&f("title eq 42"), ResourceKind::User).is_ok());
    assert!(sort_expr(&AttrPath::new("password"), ResourceKind::User, Dialect::Sqlite).is_err());
    assert!(sort_expr(&AttrPath::new("name"), ResourceKind::User, Dialect::Sqlite).is_err());
}

#[test]
fn sql_is_parameterised() {
    let s = to_sql(
        &f(r#"userName eq "O'Brien" or title co "x') OR 1=1 --""#),
        ResourceKind::User,
        Dialect::Sqlite,
        2,
    )
    .unwrap();
    assert!(!s.sql.contains("Brien") && !s.sql.contains("1=1"), "{}", s.sql);
    assert_eq!(
        s.params,
        vec![SqlParam::Text("o'brien".into()), SqlParam::Text("x') or 1=1 --".into())]
    );
    assert!(s.sql.contains("?2") && s.sql.contains("?3"), "{}", s.sql);
    let s = to_sql(
        &f(r#"externalId eq "A" and displayName sw "b""#),
        ResourceKind::Group,
        Dialect::Postgres,
        5,
    )
    .unwrap();
    assert!(s.sql.contains("$5") && s.sql.contains("$6"), "{}", s.sql);
    assert_eq!(s.params.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Random data and filters.

const TEXTS: &[&str] = &[
    "alice",
    "ALICE",
    "Alice A",
    "al",
    "ice",
    "",
    "bob",
    "Bob",
    "work",
    "Work",
    "home",
    "ext-1",
    "EXT-1",
    "u0",
    "u1",
    "g0",
    "g1",
    "a@example.com",
    "A@Example.com",
    "example",
    "z",
    "User",
    "user",
    "direct",
    "Group",
];
const TIMES: &[&str] = &[
    "2025-12-31T23:00:00.000000Z",
    "2026-01-01T00:00:00.000000Z",
    "2026-01-01T10:00:00.500000Z",
    "2026-06-30T23:59:59.999999Z",
];
const TIME_VALUES: &[&str] = &[
    "2026-01-01T00:00:00Z",
    "2026-01-01T12:00:00.5+02:00",
    "2026-01-01T10:00:00.500000Z",
    "2026-01-01T00:00:00+01:00",
    "2026-06-30T23:59:59.999999Z",
    "2025-12-31T23:00:00Z",
];

fn text() -> BoxedStrategy<String> {
    prop_oneof![4 => select(TEXTS).prop_map(str::to_string), 1 => "[a-cA-C@. ]{0,3}"].boxed()
}

fn nonempty_text() -> BoxedStrategy<String> {
    prop_oneof![select(&TEXTS[..5]).prop_map(str::to_string), "[a-cA-C][a-c@.]{0,3}"].boxed()
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v);
    }
}

fn object(pairs: Vec<(&str, Option<Value>)>) -> Option<Value> {
    let mut m = Map::new();
    for (k, v) in pairs {
        put(&mut m, k, v);
    }
    if m.is_empty() { None } else { Some(Value::Object(m)) }
}

prop_compose! {
    fn email()(value in proptest::option::of(text()), ty in proptest::option::of(select(&["work", "home", "Work"][..])),
               primary in proptest::option::of(any::<bool>()), display in proptest::option::weighted(0.2, text())) -> Option<Value> {
        object(vec![("value", value.map(Value::from)), ("type", ty.map(Value::from)), ("primary", primary.map(Value::from)),
                    ("display", display.map(Value::from))])
    }
}

prop_compose! {
    /// A user document as the model stores it (canonical names, no empty objects, `active` set).
    fn user_doc()(user_name in nonempty_text(), display in proptest::option::of(text()), nick in proptest::option::of(text()),
                  title in proptest::option::weighted(0.3, text()), external in proptest::option::of(text()), active in any::<bool>(),
                  given in proptest::option::of(text()), family in proptest::option::of(text()),
                  emails in proptest::collection::vec(email(), 0..3),
                  dept in proptest::option::of(text()), manager in proptest::option::of(text()),
                  manager_name in proptest::option::weighted(0.3, text())) -> Map<String, Value> {
        let mut doc = Map::new();
        doc.insert("userName".into(), Value::from(user_name));
        put(&mut doc, "displayName", display.map(Value::from));
        put(&mut doc, "nickName", nick.map(Value::from));
        put(&mut doc, "title", title.map(Value::from));
        put(&mut doc, "externalId", external.map(Value::from));
        doc.insert("active".into(), Value::from(active));
        put(&mut doc, "name", object(vec![("givenName", given.map(Value::from)), ("familyName", family.map(Value::from))]));
        let emails: Vec<Value> = emails.into_iter().flatten().collect();
        if !emails.is_empty() {
            doc.insert("emails".into(), Value::Array(emails));
        }
        let manager = object(vec![("value", manager.map(Value::from)), ("displayName", manager_name.map(Value::from))]);
        put(&mut doc, ENT, object(vec![("department", dept.map(Value::from)), ("manager", manager)]));
        doc
    }
}

#[derive(Debug, Clone)]
struct Data {
    users: Vec<(Map<String, Value>, usize, usize)>,
    groups: Vec<(Map<String, Value>, Vec<bool>, usize)>,
}

fn data() -> impl Strategy<Value = Data> {
    let users = proptest::collection::vec((user_doc(), 0..TIMES.len(), 0..TIMES.len()), 2..7);
    let groups = proptest::collection::vec(
        (
            nonempty_text(),
            proptest::option::of(text()),
            proptest::collection::vec(any::<bool>(), 6),
            0..TIMES.len(),
        ),
        1..4,
    );
    (users, groups).prop_map(|(mut users, groups)| {
        // userName and a Group's displayName are unique per tenant, ignoring case.
        let mut seen = BTreeSet::new();
        for (i, (doc, ..)) in users.iter_mut().enumerate() {
            let name = doc["userName"].as_str().unwrap_or_default().to_string();
            if !seen.insert(name.to_lowercase()) {
                let unique = format!("{name}-{i}");
                seen.insert(unique.to_lowercase());
                doc.insert("userName".into(), Value::from(unique));
            }
        }
        let mut seen = BTreeSet::new();
        let groups = groups
            .into_iter()
            .enumerate()
            .map(|(i, (name, external, members, created))| {
                let name = if seen.insert(name.to_lowercase()) {
                    name
                } else {
                    format!("{name}-{i}")
                };
                seen.insert(name.to_lowercase());
                let mut doc = Map::new();
                doc.insert("displayName".into(), Value::from(name));
                put(&mut doc, "externalId", external.map(Value::from));
                (doc, members, created)
            })
            .collect();
        Data { users, groups }
    })
}

fn uid(i: usize) -> String {
    format!("u{i}")
}

fn gid(i: usize) -> String {
    format!("g{i}")
}

impl Data {
    fn member(&self, g: usize, u: usize) -> bool {
        u < self.users.len() && self.groups[g].1[u]
    }

    /// Resources as the HTTP layer renders them.
    fn rendered(&self, kind: ResourceKind) -> BTreeMap<String, Value> {
        let str_of = |doc: &Map<String, Value>, k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        let meta = |kind: ResourceKind, id: &str, created: usize, modified: usize| {
            json!({"resourceType": kind.name(), "created": TIMES[created], "lastModified": TIMES[modified],
                   "location": format!("https://scim.example{}/{id}", kind.endpoint()), "version": "W/\"1\""})
        };
        let mut out = BTreeMap::new();
        match kind {
            ResourceKind::User => {
                for (u, (doc, created, modified)) in self.users.iter().enumerate() {
                    let mut r = doc.clone();
                    r.insert("id".into(), Value::from(uid(u)));
                    let groups: Vec<Value> = (0..self.groups.len())
                        .filter(|&g| self.member(g, u))
                        .map(|g| json!({"value": gid(g), "display": self.groups[g].0["displayName"], "type": "direct"}))
                        .collect();
                    r.insert("groups".into(), Value::Array(groups));
                    r.insert("meta".into(), meta(kind, &uid(u), *created, *modified));
                    out.insert(uid(u), Value::Object(r));
                }
            }
            ResourceKind::Group => {
                for (g, (doc, _, created)) in self.groups.iter().enumerate() {
                    let mut r = doc.clone();
                    r.insert("id".into(), Value::from(gid(g)));
                    let members: Vec<Value> = (0..self.users.len())
                        .filter(|&u| self.member(g, u))
                        .map(|u| {
                            let d = &self.users[u].0;
                            let display = str_of(d, "displayName").or_else(|| str_of(d, "userName"));
                            json!({"value": uid(u), "display": display, "type": "User"})
                        })
                        .collect();
                    r.insert("members".into(), Value::Array(members));
                    r.insert("meta".into(), meta(kind, &gid(g), *created, *created));
                    out.insert(gid(g), Value::Object(r));
                }
            }
        }
        out
    }

    fn expected(&self, filter: &Filter, kind: ResourceKind) -> Vec<String> {
        self.rendered(kind)
            .into_iter()
            .filter(|(_, r)| matches(filter, kind, r))
            .map(|(id, _)| id)
            .collect()
    }
}

/// Attribute paths a filter may use, valid and invalid, per resource type.
fn paths(kind: ResourceKind) -> Vec<String> {
    let mut p: Vec<String> = [
        "id",
        "externalId",
        "meta.created",
        "meta.lastModified",
        "meta.resourceType",
        "meta",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match kind {
        ResourceKind::User => {
            for s in [
                "userName",
                "USERNAME",
                "urn:ietf:params:scim:schemas:core:2.0:User:userName",
                "displayName",
                "nickName",
                "title",
                "active",
                "name",
                "name.givenName",
                "name.FamilyName",
                "emails",
                "emails.value",
                "emails.type",
                "emails.primary",
                "emails.display",
                "groups",
                "groups.value",
                "groups.display",
                "groups.type",
            ] {
                p.push(s.to_string());
            }
            for s in ["department", "manager", "manager.value", "manager.displayName"] {
                p.push(format!("{ENT}:{s}"));
            }
        }
        ResourceKind::Group => {
            for s in [
                "displayName",
                "members",
                "members.value",
                "members.display",
                "members.type",
            ] {
                p.push(s.to_string());
            }
        }
    }
    p
}

fn attr_path(s: &str) -> AttrPath {
    parse_path(s).unwrap().attr
}

fn value() -> BoxedStrategy<CompValue> {
    prop_oneof![
        8 => text().prop_map(CompValue::Str),
        2 => select(TIME_VALUES).prop_map(|s| CompValue::Str(s.to_string())),
        2 => any::<bool>().prop_map(CompValue::Bool),
        1 => Just(CompValue::Str("True".into())),
        1 => Just(CompValue::Null),
        1 => (0i64..3).prop_map(|n| CompValue::Num(n.into())),
    ]
    .boxed()
}

fn op() -> BoxedStrategy<CompareOp> {
    prop_oneof![
        4 => Just(CompareOp::Eq),
        2 => Just(CompareOp::Ne),
        3 => select(&[CompareOp::Co, CompareOp::Sw, CompareOp::Ew, CompareOp::Gt, CompareOp::Ge, CompareOp::Lt, CompareOp::Le][..]),
    ]
    .boxed()
}

fn attr_exp(paths: Vec<String>) -> BoxedStrategy<Filter> {
    let paths = select(paths);
    prop_oneof![
        3 => (paths.clone(), op(), value()).prop_map(|(p, op, v)| Filter::Compare(attr_path(&p), op, v)),
        1 => paths.prop_map(|p| Filter::Present(attr_path(&p))),
    ]
    .boxed()
}

fn logic(leaf: BoxedStrategy<Filter>, depth: u32) -> BoxedStrategy<Filter> {
    leaf.prop_recursive(depth, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::Or(Box::new(l), Box::new(r))),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
    .boxed()
}

fn filter(kind: ResourceKind) -> BoxedStrategy<Filter> {
    let subs: Vec<(&str, Vec<String>)> = match kind {
        ResourceKind::User => vec![
            (
                "emails",
                ["value", "type", "primary", "display"].map(String::from).to_vec(),
            ),
            ("groups", ["value", "display", "type"].map(String::from).to_vec()),
        ],
        ResourceKind::Group => vec![("members", ["value", "display", "type"].map(String::from).to_vec())],
    };
    let value_paths: Vec<BoxedStrategy<Filter>> = subs
        .into_iter()
        .map(|(attr, subs)| {
            logic(attr_exp(subs), 2)
                .prop_map(move |inner| Filter::ValuePath(AttrPath::new(attr), Box::new(inner)))
                .boxed()
        })
        .collect();
    let leaf = prop_oneof![4 => attr_exp(paths(kind)), 1 => proptest::strategy::Union::new(value_paths)].boxed();
    logic(leaf, 2)
}

// ---------------------------------------------------------------------------------------------
// Databases.

const SQLITE_SCHEMA: &str = include_str!("../../../migrations/sqlite/0001_scim.sql");

const PG_SCHEMA: &[&str] = &[
    "CREATE TEMP TABLE scim_users (tenant TEXT NOT NULL, id TEXT NOT NULL, user_name TEXT NOT NULL, \
     user_name_lower TEXT NOT NULL, external_id TEXT, display_name TEXT, active BOOLEAN NOT NULL, doc JSONB NOT NULL, \
     version BIGINT NOT NULL, created TEXT NOT NULL, last_modified TEXT NOT NULL, PRIMARY KEY (tenant, id))",
    "CREATE TEMP TABLE scim_groups (tenant TEXT NOT NULL, id TEXT NOT NULL, display_name TEXT NOT NULL, \
     display_name_lower TEXT NOT NULL, external_id TEXT, doc JSONB NOT NULL, version BIGINT NOT NULL, \
     created TEXT NOT NULL, last_modified TEXT NOT NULL, PRIMARY KEY (tenant, id))",
    "CREATE TEMP TABLE scim_group_members (tenant TEXT NOT NULL, group_id TEXT NOT NULL, member_id TEXT NOT NULL, \
     PRIMARY KEY (tenant, group_id, member_id))",
];

/// One database under test, behind a small dialect-neutral interface.
enum Db {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Db {
    fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    fn ph(&self, n: usize) -> String {
        match self {
            Db::Sqlite(_) => format!("?{n}"),
            Db::Postgres(_) => format!("${n}"),
        }
    }

    async fn sqlite() -> Db {
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::raw_sql(SQLITE_SCHEMA).execute(&mut c).await.unwrap();
        Db::Sqlite(c)
    }

    async fn postgres(url: &str) -> Db {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        for stmt in PG_SCHEMA {
            sqlx::query(AssertSqlSafe(*stmt)).execute(&mut c).await.unwrap();
        }
        Db::Postgres(c)
    }

    async fn exec(&mut self, sql: &str, args: Vec<Arg>) {
        match self {
            Db::Sqlite(c) => {
                let mut q = sqlx::query(AssertSqlSafe(sql.to_string()));
                for a in args {
                    q = match a {
                        Arg::Text(s) => q.bind(s),
                        Arg::OptText(s) => q.bind(s),
                        Arg::Bool(b) => q.bind(b),
                        Arg::Int(i) => q.bind(i),
                    };
                }
                q.execute(&mut *c).await.unwrap();
            }
            Db::Postgres(c) => {
                let mut q = sqlx::query(AssertSqlSafe(sql.to_string()));
                for a in args {
                    q = match a {
                        Arg::Text(s) => q.bind(s),
                        Arg::OptText(s) => q.bind(s),
                        Arg::Bool(b) => q.bind(b),
                        Arg::Int(i) => q.bind(i),
                    };
                }
                q.execute(&mut *c).await.unwrap();
            }
        }
    }

    async fn ids(&mut self, sql: &str, tenant: &str, params: &[SqlParam]) -> Result<Vec<String>, sqlx::Error> {
        match self {
            Db::Sqlite(c) => {
                let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.to_string())).bind(tenant.to_string());
                for p in params {
                    q = match p {
                        SqlParam::Text(s) => q.bind(s.clone()),
                        SqlParam::Int(i) => q.bind(*i),
                        SqlParam::Real(f) => q.bind(*f),
                        SqlParam::Bool(b) => q.bind(*b),
                    };
                }
                q.fetch_all(&mut *c).await
            }
            Db::Postgres(c) => {
                let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.to_string())).bind(tenant.to_string());
                for p in params {
                    q = match p {
                        SqlParam::Text(s) => q.bind(s.clone()),
                        SqlParam::Int(i) => q.bind(*i),
                        SqlParam::Real(f) => q.bind(*f),
                        SqlParam::Bool(b) => q.bind(*b),
                    };
                }
                q.fetch_all(&mut *c).await
            }
        }
    }

    /// Loads `data` as tenant `t1`, and again as `t2` with every user in every group, so that a
    /// membership condition that forgot the tenant shows up as a wrong answer.
    async fn load(&mut self, data: &Data) {
        for stmt in [
            "DELETE FROM scim_group_members",
            "DELETE FROM scim_groups",
            "DELETE FROM scim_users",
        ] {
            self.exec(stmt, vec![]).await;
        }
        let p: Vec<String> = (1..=11).map(|n| self.ph(n)).collect();
        let doc_ph = |n: &str, pg: bool| {
            if pg {
                format!("CAST({n} AS jsonb)")
            } else {
                n.to_string()
            }
        };
        let pg = self.dialect() == Dialect::Postgres;
        let user_sql = format!(
            "INSERT INTO scim_users (tenant, id, user_name, user_name_lower, external_id, display_name, active, doc, version, \
             created, last_modified) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            p[0],
            p[1],
            p[2],
            p[3],
            p[4],
            p[5],
            p[6],
            doc_ph(&p[7], pg),
            p[8],
            p[9],
            p[10]
        );
        let group_sql = format!(
            "INSERT INTO scim_groups (tenant, id, display_name, display_name_lower, external_id, doc, version, created, \
             last_modified) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
            p[0],
            p[1],
            p[2],
            p[3],
            p[4],
            doc_ph(&p[5], pg),
            p[6],
            p[7],
            p[8]
        );
        let member_sql = format!(
            "INSERT INTO scim_group_members (tenant, group_id, member_id) VALUES ({}, {}, {})",
            p[0], p[1], p[2]
        );
        for tenant in ["t1", "t2"] {
            for (u, (doc, created, modified)) in data.users.iter().enumerate() {
                let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
                let name = s("userName").unwrap_or_default();
                let args = vec![
                    Arg::Text(tenant.into()),
                    Arg::Text(uid(u)),
                    Arg::Text(name.clone()),
                    Arg::Text(name.to_lowercase()),
                    Arg::OptText(s("externalId")),
                    Arg::OptText(s("displayName")),
                    Arg::Bool(doc.get("active").and_then(Value::as_bool).unwrap_or(true)),
                    Arg::Text(Value::Object(doc.clone()).to_string()),
                    Arg::Int(1),
                    Arg::Text(TIMES[*created].into()),
                    Arg::Text(TIMES[*modified].into()),
                ];
                self.exec(&user_sql, args).await;
            }
            for (g, (doc, _, created)) in data.groups.iter().enumerate() {
                let name = doc["displayName"].as_str().unwrap_or_default().to_string();
                let args = vec![
                    Arg::Text(tenant.into()),
                    Arg::Text(gid(g)),
                    Arg::Text(name.clone()),
                    Arg::Text(name.to_lowercase()),
                    Arg::OptText(doc.get("externalId").and_then(Value::as_str).map(str::to_string)),
                    Arg::Text(Value::Object(doc.clone()).to_string()),
                    Arg::Int(1),
                    Arg::Text(TIMES[*created].into()),
                    Arg::Text(TIMES[*created].into()),
                ];
                self.exec(&group_sql, args).await;
                for u in 0..data.users.len() {
                    if tenant == "t2" || data.member(g, u) {
                        self.exec(
                            &member_sql,
                            vec![Arg::Text(tenant.into()), Arg::Text(gid(g)), Arg::Text(uid(u))],
                        )
                        .await;
                    }
                }
            }
        }
    }

    /// Ids matched by `filter` through `to_sql`, or the validation error.
    async fn query(&mut self, filter: &Filter, kind: ResourceKind) -> Result<Vec<String>, FilterError> {
        let s = to_sql(filter, kind, self.dialect(), 2)?;
        let table = match kind {
            ResourceKind::User => "scim_users",
            ResourceKind::Group => "scim_groups",
        };
        let sql = format!(
            "SELECT r.id FROM {table} r WHERE r.tenant = {} AND {} ORDER BY r.id",
            self.ph(1),
            s.sql
        );
        Ok(self
            .ids(&sql, "t1", &s.params)
            .await
            .unwrap_or_else(|e| panic!("{filter}\n{sql}\n{:?}\n{e}", s.params)))
    }
}

enum Arg {
    Text(String),
    OptText(Option<String>),
    Bool(bool),
    Int(i64),
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

type Case = (Data, Vec<Filter>, Vec<Filter>);

fn case() -> impl Strategy<Value = Case> {
    (
        data(),
        proptest::collection::vec(filter(ResourceKind::User), 12),
        proptest::collection::vec(filter(ResourceKind::Group), 6),
    )
}

/// Runs every filter of a case through both the evaluator and the database.
async fn check_agreement(db: &mut Db, (data, user_filters, group_filters): &Case) -> Result<(), TestCaseError> {
    db.load(data).await;
    for (kind, filters) in [(ResourceKind::User, user_filters), (ResourceKind::Group, group_filters)] {
        for filter in filters {
            let valid = validate(filter, kind);
            match db.query(filter, kind).await {
                Ok(got) => {
                    prop_assert!(valid.is_ok());
                    let want = data.expected(filter, kind);
                    prop_assert_eq!(got, want, "{} on {:?}: {:#?}", filter, kind, data.rendered(kind));
                }
                Err(e) => prop_assert_eq!(valid, Err(e)),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_agrees_with_evaluator(c in case()) {
        let rt = runtime();
        rt.block_on(async {
            let mut db = Db::sqlite().await;
            check_agreement(&mut db, &c).await
        })?;
    }
}

#[test]
fn postgres_agrees_with_evaluator() {
    let Some(url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    else {
        eprintln!("note: TEST_DATABASE_URL is not a postgres:// URL; skipping the PostgreSQL agreement test");
        return;
    };
    let rt = runtime();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    });
    // A connection per case: the tables are temporary, so each case starts empty.
    let result = runner.run(&case(), |c| {
        rt.block_on(async {
            let mut db = Db::postgres(&url).await;
            check_agreement(&mut db, &c).await
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn fixed_filters_agree_on_sqlite() {
    // The filters IdPs actually send, and a few edge cases, on one fixed data set.
    let rt = runtime();
    rt.block_on(async {
        let mut db = Db::sqlite().await;
        fixed_filters(&mut db).await;
    });
}

#[test]
fn fixed_filters_agree_on_postgres() {
    let Some(url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    else {
        eprintln!("note: TEST_DATABASE_URL is not a postgres:// URL; skipping");
        return;
    };
    let rt = runtime();
    rt.block_on(async {
        let mut db = Db::postgres(&url).await;
        fixed_filters(&mut db).await;
    });
}

fn fixed_data() -> Data {
    let u0 = user().as_object().unwrap().clone();
    let mut u0: Map<String, Value> = u0
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "id" | "meta" | "groups" | "schemas"))
        .collect();
    u0.insert("userName".into(), Value::from("Zoë@Example.com"));
    let u1: Map<String, Value> =
        json!({"userName": "alice", "active": false, "emails": [{"value": "a@corp.example", "type": "work"}],
                                        "displayName": "Alice"})
        .as_object()
        .unwrap()
        .clone();
    let u2: Map<String, Value> = json!({"userName": "bob", "active": true}).as_object().unwrap().clone();
    let g0: Map<String, Value> = json!({"displayName": "Admins", "externalId": "e-1"})
        .as_object()
        .unwrap()
        .clone();
    let g1: Map<String, Value> = json!({"displayName": "Ópera"}).as_object().unwrap().clone();
    Data {
        users: vec![(u0, 1, 2), (u1, 0, 3), (u2, 3, 3)],
        groups: vec![
            (g0, vec![true, true, false, false, false, false], 0),
            (g1, vec![false; 6], 1),
        ],
    }
}

async fn fixed_filters(db: &mut Db) {
    let data = fixed_data();
    db.load(&data).await;
    let users: &[(&str, &[&str])] = &[
        (r#"userName eq "ALICE""#, &["u1"]),
        (r#"userName eq "zoë@example.com""#, &["u0"]),
        (r#"userName eq "ZOË@EXAMPLE.COM""#, &["u0"]),
        (r#"emails[type eq "work"].value eq "A@CORP.example""#, &["u1"]),
        (r#"emails[type eq "work" and value co "@corp"]"#, &["u1"]),
        (r#"emails co "example""#, &["u0", "u1"]),
        (r#"emails ne "a@corp.example""#, &["u0", "u2"]),
        (r#"not (emails pr)"#, &["u2"]),
        (r#"emails eq null"#, &["u2"]),
        (r#"active eq false"#, &["u1"]),
        (r#"active ne false"#, &["u0", "u2"]),
        (r#"displayName pr"#, &["u0", "u1"]),
        (r#"title ne "x""#, &["u0", "u1", "u2"]),
        (r#"groups.value eq "g0""#, &["u0", "u1"]),
        (r#"groups[display eq "admins"]"#, &["u0", "u1"]),
        (r#"not (groups pr)"#, &["u2"]),
        (
            r#"meta.created ge "2026-01-01T00:00:00Z" and meta.created lt "2026-06-30T23:59:59.999999Z""#,
            &["u0"],
        ),
        (
            r#"meta.lastModified eq "2026-07-01T01:59:59.999999+02:00""#,
            &["u1", "u2"],
        ),
        (r#"meta.resourceType eq "User""#, &["u0", "u1", "u2"]),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"m-1\"",
            &["u0"],
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department sw \"tour\"",
            &["u0"],
        ),
        (r#"userName ew ".com" or userName sw "b""#, &["u0", "u2"]),
        (r#"userName co """#, &["u0", "u1", "u2"]),
        (r#"userName gt "bz""#, &["u0"]),
    ];
    for (input, want) in users {
        let filter = f(input);
        let got = db.query(&filter, ResourceKind::User).await.unwrap();
        assert_eq!(got, *want, "{input}");
        assert_eq!(data.expected(&filter, ResourceKind::User), *want, "{input} (evaluator)");
    }
    let groups: &[(&str, &[&str])] = &[
        (r#"displayName eq "admins""#, &["g0"]),
        (r#"displayName eq "ÓPERA""#, &["g1"]),
        (r#"externalId eq "e-1""#, &["g0"]),
        (r#"id eq "g0" and members[value eq "u1"]"#, &["g0"]),
        (r#"id eq "g0" and members[value eq "u2"]"#, &[]),
        (r#"members.display eq "babs jensen""#, &["g0"]),
        (r#"members pr"#, &["g0"]),
        (r#"members eq "u0""#, &["g0"]),
        (r#"not (members.type eq "user")"#, &["g1"]),
    ];
    for (input, want) in groups {
        let filter = f(input);
        let got = db.query(&filter, ResourceKind::Group).await.unwrap();
        assert_eq!(got, *want, "{input}");
        assert_eq!(
            data.expected(&filter, ResourceKind::Group),
            *want,
            "{input} (evaluator)"
        );
    }
    // Sorting: every sortable path yields a valid expression; a few orders are checked.
    for kind in [ResourceKind::User, ResourceKind::Group] {
        for p in paths(kind) {
            let Ok(expr) = sort_expr(&attr_path(&p), kind, db.dialect()) else {
                continue;
            };
            let table = if kind == ResourceKind::User {
                "scim_users"
            } else {
                "scim_groups"
            };
            let sql = format!(
                "SELECT r.id FROM {table} r WHERE r.tenant = {} ORDER BY {expr} ASC NULLS LAST, r.id",
                db.ph(1)
            );
            db.ids(&sql, "t1", &[])
                .await
                .unwrap_or_else(|e| panic!("{p}: {sql}: {e}"));
        }
    }
    let (dialect, tenant_ph) = (db.dialect(), db.ph(1));
    let order = |p: &str, kind: ResourceKind| {
        let expr = sort_expr(&attr_path(p), kind, dialect).unwrap();
        let table = if kind == ResourceKind::User {
            "scim_users"
        } else {
            "scim_groups"
        };
        format!("SELECT r.id FROM {table} r WHERE r.tenant = {tenant_ph} ORDER BY {expr} ASC NULLS LAST, r.id")
    };
    let sql = order("userName", ResourceKind::User);
    assert_eq!(db.ids(&sql, "t1", &[]).await.unwrap(), ["u1", "u2", "u0"]);
    let sql = order("emails", ResourceKind::User);
    // u0's primary email is bjensen@…, u1's only email a@corp…; u2 has none and sorts last.
    assert_eq!(db.ids(&sql, "t1", &[]).await.unwrap(), ["u1", "u0", "u2"]);
    let sql = order("displayName", ResourceKind::Group);
    assert_eq!(db.ids(&sql, "t1", &[]).await.unwrap(), ["g0", "g1"]);
    let sql = order("members.value", ResourceKind::Group);
    assert_eq!(db.ids(&sql, "t1", &[]).await.unwrap(), ["g0", "g1"]);
}

// ---------------------------------------------------------------------------------------------
// Display → parse round trip over arbitrary trees.

fn any_path() -> BoxedStrategy<AttrPath> {
    let name = "[a-zA-Z][a-zA-Z0-9_-]{0,6}";
    let urn = proptest::option::weighted(
        0.2,
        select(
            &[
                schema::USER_SCHEMA,
                ENTERPRISE_USER_SCHEMA,
                "urn:example:ext:1.0:Thing",
                "URN:x:y",
            ][..],
        ),
    );
    (urn, name, proptest::option::of(name))
        .prop_map(|(urn, attr, sub)| AttrPath {
            urn: urn.map(str::to_string),
            attr,
            sub,
        })
        .boxed()
}

fn any_value() -> BoxedStrategy<CompValue> {
    prop_oneof![
        any::<String>().prop_map(CompValue::Str),
        "[\"\\\\a\u{e9}\n\t]{0,5}".prop_map(CompValue::Str),
        any::<bool>().prop_map(CompValue::Bool),
        Just(CompValue::Null),
        any::<i64>().prop_map(|n| CompValue::Num(n.into())),
        any::<f64>().prop_filter_map("finite", |x| serde_json::Number::from_f64(x).map(CompValue::Num)),
    ]
    .boxed()
}

fn any_attr_exp() -> BoxedStrategy<Filter> {
    let ops = select(
        &[
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ][..],
    );
    prop_oneof![
        (any_path(), ops, any_value()).prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
        any_path().prop_map(Filter::Present),
    ]
    .boxed()
}

fn any_filter() -> BoxedStrategy<Filter> {
    let value_path = (any_path(), logic(any_attr_exp(), 2))
        .prop_map(|(mut p, inner)| {
            p.sub = None;
            Filter::ValuePath(p, Box::new(inner))
        })
        .boxed();
    logic(prop_oneof![3 => any_attr_exp(), 1 => value_path].boxed(), 4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn display_parses_back_to_the_same_tree(filter in any_filter()) {
        let text = filter.to_string();
        prop_assert_eq!(parse(&text), Ok(filter), "{}", text);
    }

    #[test]
    fn parser_never_panics(input in "[a-z \"()\\[\\]\\.:\\\\]{0,40}") {
        let _ = parse(&input);
        let _ = parse_path(&input);
    }
}

#[test]
fn idp_lookups_use_indexes_on_sqlite() {
    // Okta and Entra look a user up by userName or externalId before every create: those
    // filters must stay index lookups, not scans of the tenant.
    let rt = runtime();
    rt.block_on(async {
        let Db::Sqlite(mut c) = Db::sqlite().await else {
            unreachable!()
        };
        let cases = [
            (ResourceKind::User, r#"userName eq "X""#, "scim_users_user_name"),
            (ResourceKind::User, r#"externalId eq "x""#, "scim_users_external_id"),
            (ResourceKind::User, r#"id eq "x""#, "sqlite_autoindex_scim_users_1"),
            (ResourceKind::Group, r#"displayName eq "x""#, "scim_groups_display_name"),
            (ResourceKind::Group, r#"externalId eq "x""#, "scim_groups_external_id"),
        ];
        for (kind, input, index) in cases {
            let s = to_sql(&f(input), kind, Dialect::Sqlite, 2).unwrap();
            let table = if kind == ResourceKind::User {
                "scim_users"
            } else {
                "scim_groups"
            };
            let sql = format!(
                "EXPLAIN QUERY PLAN SELECT r.id FROM {table} r WHERE r.tenant = ?1 AND {}",
                s.sql
            );
            let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(AssertSqlSafe(sql)).bind("t1");
            for p in &s.params {
                if let SqlParam::Text(t) = p {
                    q = q.bind(t.clone());
                }
            }
            let plan: Vec<String> = q.fetch_all(&mut c).await.unwrap().into_iter().map(|r| r.3).collect();
            assert!(plan.iter().any(|d| d.contains(index)), "{input}: {plan:?}");
        }
    });
}

/// The longest flat chains the length limit allows must still be valid SQL (SQLite limits
/// expression depth; PostgreSQL limits stack depth).
async fn longest_filters(db: &mut Db) {
    db.load(&fixed_data()).await;
    for joiner in [" and ", " or "] {
        for term in ["id pr", "emails pr", "not (id pr)"] {
            let n = MAX_FILTER_LEN / (term.len() + joiner.len());
            let filter = f(&vec![term; n].join(joiner));
            db.query(&filter, ResourceKind::User).await.unwrap();
        }
    }
}

#[test]
fn longest_filters_run_on_sqlite() {
    runtime().block_on(async { longest_filters(&mut Db::sqlite().await).await });
}

#[test]
fn longest_filters_run_on_postgres() {
    let Some(url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    else {
        eprintln!("note: TEST_DATABASE_URL is not a postgres:// URL; skipping");
        return;
    };
    runtime().block_on(async { longest_filters(&mut Db::postgres(&url).await).await });
}
