//! Hostile requests (issue 16, part 2): each case gets a clear 4xx, stores nothing, and leaves
//! the daemon answering. Bodies over the limit, deep JSON, huge and deep filters, injection
//! through filters and PATCH paths, invalid UTF-8 and U+0000 wherever a client can put them,
//! wrong content types, duplicate keys, numbers where strings belong, slow clients, another
//! tenant's token, and a forged Host header. Run on SQLite, and on PostgreSQL with
//! `TEST_DATABASE_URL`.
//!
//! Secrets (part 4): the real binary, logging at trace level, never writes a user's password or
//! the database password.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TOKEN_A, TOKEN_B, TestApp, enc, filter_path, read, spawn_app, spawn_with};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Rows of every table a SCIM write touches, all tenants: users, groups, memberships and
/// outbox operations.
async fn stored(app: &TestApp) -> [i64; 4] {
    let url = &app.db_url;
    [
        crate::db::count(url, "SELECT count(*) FROM scim_users").await,
        crate::db::count(url, "SELECT count(*) FROM scim_groups").await,
        crate::db::count(url, "SELECT count(*) FROM scim_group_members").await,
        crate::db::count(url, "SELECT count(*) FROM operations").await,
    ]
}

/// The daemon still answers a plain request, promptly.
async fn answers(app: &TestApp) {
    let started = Instant::now();
    let r = app.get("/ServiceProviderConfig").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a plain request took {:?}",
        started.elapsed()
    );
}

/// A request with the body bytes as given and tenant a's token.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&[u8]>,
    body: Vec<u8>,
) -> crate::helpers::Resp {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.scim))
        .bearer_auth(TOKEN_A)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", reqwest::header::HeaderValue::from_bytes(ct).unwrap());
    }
    read(req.send().await.expect("request")).await
}

async fn send_json(app: &TestApp, method: Method, path: &str, body: impl Into<Vec<u8>>) -> crate::helpers::Resp {
    send(app, method, path, Some(b"application/scim+json"), body.into()).await
}

fn patch_body(ops: Value) -> Value {
    json!({"schemas": [PATCH_SCHEMA], "Operations": ops})
}

/// Asserts a SCIM error answer: the status, the SCIM error body, and the scimType if given.
#[track_caller]
fn assert_scim_error(r: &crate::helpers::Resp, status: StatusCode, scim_type: Option<&str>, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    assert_eq!(
        r.body["status"],
        status.as_str(),
        "{what}: a SCIM error body: {}",
        r.body
    );
    if let Some(t) = scim_type {
        assert_eq!(r.body["scimType"], t, "{what}: {}", r.body);
    }
}

fn host_port(app: &TestApp) -> String {
    app.root.trim_start_matches("http://").to_string()
}

/// An answer read off a raw connection: status and body.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    body: String,
}

/// Writes `request` on a fresh connection and reads the answer until the server closes the
/// connection or `limit` passes (`None`: no answer in time).
async fn raw(app: &TestApp, request: &[u8], limit: Duration) -> Option<RawAnswer> {
    let mut s = TcpStream::connect(host_port(app)).await.unwrap();
    // The server may answer and close before it has read everything: the answer counts.
    let _ = s.write_all(request).await;
    read_answer(&mut s, limit).await
}

async fn read_answer(s: &mut TcpStream, limit: Duration) -> Option<RawAnswer> {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some(RawAnswer { status, body })
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_before_it_is_read() {
    let app = spawn_with(|c| c.server.max_body_bytes = 64 * 1024).await;
    let before = stored(&app).await;

    // 50 MB announced, none sent: the headers alone decide, at once.
    for expect in ["", "Expect: 100-continue\r\n"] {
        let head = format!(
            "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN_A}\r\n\
             Content-Type: application/scim+json\r\nContent-Length: 52428800\r\n{expect}\r\n"
        );
        let started = Instant::now();
        let answer = raw(&app, head.as_bytes(), Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("no answer within 5 s to a 50 MB Content-Length ({expect:?})"));
        assert_eq!(answer.status, 413, "{answer:?}");
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(body["status"], "413", "{body}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }

    // Chunked, without a length: read up to the limit, then refused, without waiting for the rest.
    let mut s = TcpStream::connect(host_port(&app)).await.unwrap();
    let head = format!(
        "PUT /scim/v2/Users/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN_A}\r\n\
         Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
    // 128 KB, twice the limit; the rest of a "1 GB" body never comes.
    for _ in 0..8 {
        if s.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let answer = read_answer(&mut s, Duration::from_secs(5))
        .await
        .expect("an answer to a chunked body over the limit");
    assert_eq!(answer.status, 413, "{answer:?}");

    // And through an ordinary client, as every IdP sends it (Content-Length).
    let r = app
        .post(
            "/Users",
            json!({"userName": "big@corp.example", "title": "x".repeat(100 * 1024)}),
        )
        .await;
    assert_scim_error(&r, StatusCode::PAYLOAD_TOO_LARGE, None, "a 100 KB body");
    assert_eq!(stored(&app).await, before, "nothing stored");
    answers(&app).await;
}

#[tokio::test]
async fn deeply_nested_json_is_400() {
    let app = spawn_app().await;
    let id = app.create_user("nested@corp.example").await;
    let before = stored(&app).await;
    let version = app.get(&format!("/Users/{id}")).await.body["meta"]["version"].clone();

    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let unclosed = "[".repeat(1_000_000);
    let deep_object = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    let user = format!("{{\"userName\": \"deep@corp.example\", \"x\": {}}}", deep_object(5000));
    let group = format!("{{\"displayName\": \"deep\", \"members\": {}}}", deep_array);
    let patch = format!(
        "{{\"schemas\": [\"{PATCH_SCHEMA}\"], \"Operations\": [{{\"op\": \"add\", \"path\": \"x\", \"value\": {}}}]}}",
        deep_object(5000)
    );
    let cases: Vec<(Method, String, String)> = vec![
        (Method::POST, "/Users".into(), deep_array.clone()),
        (Method::POST, "/Users".into(), unclosed),
        (Method::POST, "/Users".into(), user.clone()),
        (Method::PUT, format!("/Users/{id}"), user),
        (Method::PATCH, format!("/Users/{id}"), patch),
        (Method::POST, "/Groups".into(), group),
    ];
    for (method, path, body) in cases {
        let what = format!("{method} {path} ({} bytes)", body.len());
        let r = send_json(&app, method, &path, body).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidSyntax"), &what);
        answers(&app).await;
    }
    assert_eq!(stored(&app).await, before, "nothing stored");
    assert_eq!(app.get(&format!("/Users/{id}")).await.body["meta"]["version"], version);
}

#[tokio::test]
async fn huge_and_deeply_nested_filters_are_4xx() {
    let app = spawn_app().await;
    app.create_user("alice@corp.example").await;
    let cases = [
        // Longer than the filter limit (4 KB) but a legal URL.
        ("long", vec!["userName eq \"someone@corp.example\""; 300].join(" or ")),
        ("long value", format!("userName eq \"{}\"", "a".repeat(8000))),
        (
            "deep parentheses",
            format!("{}userName pr{}", "(".repeat(2000), ")".repeat(2000)),
        ),
        (
            "deep not",
            format!("{}userName pr{}", "not (".repeat(600), ")".repeat(600)),
        ),
        (
            "deep inside a value path",
            format!("emails[{}value pr{}]", "(".repeat(1500), ")".repeat(1500)),
        ),
        ("unclosed", "(".repeat(4000)),
        (
            "nested value paths",
            format!("{}value pr{}", "emails[".repeat(500), "]".repeat(500)),
        ),
    ];
    for (what, f) in cases {
        let r = app.get(&filter_path("/Users", &f)).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidFilter"), what);
        answers(&app).await;
    }
    // Within the limits: the longest flat chain there can be, and the deepest nesting allowed.
    // Both are filters the database runs (or the parser refuses), never a 500.
    let flat = vec!["title pr"; 4096 / 12].join(" or ");
    let nested = format!("{}userName pr{}", "(not (".repeat(16), "))".repeat(16));
    for (what, f) in [("flat", flat), ("nested", nested)] {
        let r = app.get(&filter_path("/Users", &f)).await;
        assert!(
            r.status == StatusCode::OK || r.body["scimType"] == "invalidFilter",
            "{what}: {} {}",
            r.status,
            r.body
        );
    }
    // Filters too long for a URL never reach the filter parser: hyper refuses a target over
    // 64 KB (414) and a request head over its 400 KB buffer (431).
    for (len, status) in [(100 * 1024, 414), (1024 * 1024, 431)] {
        let huge = "a".repeat(len);
        let request = format!(
            "GET /scim/v2/Users?filter=userName%20eq%20%22{huge}%22 HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {TOKEN_A}\r\nConnection: close\r\n\r\n"
        );
        let answer = raw(&app, request.as_bytes(), Duration::from_secs(10))
            .await
            .expect("an answer to a huge URL");
        assert_eq!(answer.status, status, "a {len}-byte filter");
    }
    answers(&app).await;
}

#[tokio::test]
async fn filters_cannot_inject() {
    let app = spawn_app().await;
    app.create_user("alice@corp.example").await;
    app.create_user("bob@corp.example").await;
    let before = stored(&app).await;
    let cases = [
        r#"userName eq "alice@corp.example\" or \"1\" eq \"1""#,
        r#"userName eq "x' OR '1'='1""#,
        r#"userName eq "x') OR 1=1 --""#,
        r#"userName eq "x" or 1=1"#,
        r#"userName eq "x"; DROP TABLE scim_users; --"#,
        r#"userName eq "x" --"#,
        r#"userName) or (1 eq 1"#,
        r#"userName' or '1'='1 eq "x""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName' OR 1=1 eq "x""#,
        r#"userName co "%""#,
        r#"userName sw "_""#,
        r#"userName co "\\""#,
        r#"emails[value eq "x\" or 1=1 or \"\"=\""]"#,
        r#"emails[value eq "x"] or 1=1"#,
        r#"doc eq "x""#,
        r#"tenant eq "b""#,
        r#"r.tenant eq "b""#,
        r#"meta.created gt "0" or r.tenant ne "a""#,
    ];
    for f in cases {
        let r = app.get(&filter_path("/Users", f)).await;
        match r.status {
            StatusCode::OK => assert_eq!(r.body["totalResults"], 0, "{f} matched: {}", r.body),
            _ => assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidFilter"), f),
        }
    }
    for (param, value) in [
        ("sortBy", "userName; DROP TABLE scim_users"),
        ("sortBy", "userName) --"),
        ("sortOrder", "descending; DROP TABLE scim_users"),
        ("count", "1; DROP TABLE scim_users"),
        ("startIndex", "1 OR 1=1"),
        ("startIndex", "-99999999999999999999999"),
    ] {
        let r = app.get(&format!("/Users?{param}={}", enc(value))).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, None, &format!("{param}={value}"));
    }
    // The tables are intact and the users still there.
    assert_eq!(stored(&app).await, before);
    assert_eq!(app.get("/Users").await.body["totalResults"], 2);
}

#[tokio::test]
async fn patch_paths_cannot_inject() {
    let app = spawn_app().await;
    let id = app.create_user("patched@corp.example").await;
    let gid = app.create_group("patched group", &[&id]).await;
    let user_before = app.get(&format!("/Users/{id}")).await.body;
    let group_before = app.get(&format!("/Groups/{gid}")).await.body;
    let before = stored(&app).await;
    let user_cases = [
        (
            json!([{"op": "replace", "path": "userName\"; DROP TABLE scim_users; --", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "title) or 1=1", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "title'", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"] or emails[value pr]", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"]]", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\" or 1=1].value", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "name.givenName.x", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:x:userName", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "add", "value": {"title\"; DROP TABLE scim_users; --": "x"}}]),
            "invalidPath",
        ),
        (
            json!([{"op": "add", "value": {"name.givenName') --": "x"}}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "meta.location", "value": "https://evil.example/"}]),
            "mutability",
        ),
        (json!([{"op": "replace", "path": "id", "value": "other"}]), "mutability"),
        (
            json!([{"op": "add", "path": "groups", "value": [{"value": gid}]}]),
            "mutability",
        ),
        (json!([{"op": "replace", "value": {"id": "other"}}]), "mutability"),
    ];
    for (ops, scim_type) in user_cases {
        let r = app.patch(&format!("/Users/{id}"), ops.clone()).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some(scim_type), &ops.to_string());
    }
    let group_cases = [
        json!([{"op": "remove", "path": "members[value eq \"x\"] or members[value pr]"}]),
        json!([{"op": "remove", "path": "members[value eq \"x\" or 1=1]"}]),
        json!([{"op": "add", "path": "members[value eq \"x\"]\"; --", "value": [{"value": "x"}]}]),
        json!([{"op": "replace", "path": "displayName\"; DROP TABLE scim_groups; --", "value": "x"}]),
    ];
    for ops in group_cases {
        let r = app.patch(&format!("/Groups/{gid}"), ops.clone()).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidPath"), &ops.to_string());
    }
    assert_eq!(app.get(&format!("/Users/{id}")).await.body, user_before);
    assert_eq!(app.get(&format!("/Groups/{gid}")).await.body, group_before);
    assert_eq!(stored(&app).await, before);
    answers(&app).await;
}

#[tokio::test]
async fn invalid_utf8_is_400_everywhere() {
    let app = spawn_app().await;
    let id = app.create_user("utf8@corp.example").await;
    let gid = app.create_group("utf8 group", &[]).await;
    let before = stored(&app).await;
    let user_before = app.get(&format!("/Users/{id}")).await.body;

    let bodies: Vec<(Method, String, Vec<u8>)> = vec![
        (Method::POST, "/Users".into(), b"{\"userName\": \"\xff\xfe@corp.example\"}".to_vec()),
        (Method::POST, "/Users".into(), b"{\"userName\": \"ok@corp.example\", \"\xc3\x28\": 1}".to_vec()),
        // A lone surrogate is not a character either.
        (Method::POST, "/Users".into(), br#"{"userName": "\ud800@corp.example"}"#.to_vec()),
        (Method::PUT, format!("/Users/{id}"), b"{\"userName\": \"utf8@corp.example\", \"title\": \"\xed\xa0\x80\"}".to_vec()),
        (
            Method::PATCH,
            format!("/Users/{id}"),
            [
                format!("{{\"schemas\": [\"{PATCH_SCHEMA}\"], \"Operations\": [{{\"op\": \"replace\", \"path\": \"title").as_bytes(),
                b"\xff",
                b"\", \"value\": \"x\"}]}",
            ]
            .concat(),
        ),
        (
            Method::PATCH,
            format!("/Groups/{gid}"),
            [
                format!("{{\"schemas\": [\"{PATCH_SCHEMA}\"], \"Operations\": [{{\"op\": \"add\", \"path\": \"members\", \"value\": [{{\"value\": \"").as_bytes(),
                b"\xff\xff",
                b"\"}]}]}",
            ]
            .concat(),
        ),
        (Method::POST, "/Groups".into(), b"{\"displayName\": \"g\", \"members\": [{\"value\": \"\x80\"}]}".to_vec()),
    ];
    for (method, path, body) in bodies {
        let what = format!("{method} {path} {}", String::from_utf8_lossy(&body));
        let r = send_json(&app, method, &path, body).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidSyntax"), &what);
    }

    // Percent-encoded bytes that are not UTF-8, in each place a query carries text.
    for (query, scim_type) in [
        ("filter=userName%20eq%20%22%FF%22", "invalidFilter"),
        ("filter=userName%20eq%20%22%C3%28%22", "invalidFilter"),
        ("attributes=%FF", "invalidValue"),
        ("excludedAttributes=userName%FE", "invalidValue"),
        ("sortBy=%FF", "invalidValue"),
        ("%FF=1", "invalidValue"),
    ] {
        let r = app.get(&format!("/Users?{query}")).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some(scim_type), query);
    }
    // In the resource id of the URL, for every method.
    for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        let body = match method {
            Method::PUT => Some(json!({"userName": "utf8@corp.example"})),
            Method::PATCH => Some(patch_body(json!([{"op": "replace", "path": "title", "value": "x"}]))),
            _ => None,
        };
        for path in ["/Users/%FF", "/Groups/%C3%28"] {
            let r = app.request(method.clone(), path, body.clone()).await;
            assert_scim_error(
                &r,
                StatusCode::BAD_REQUEST,
                Some("invalidValue"),
                &format!("{method} {path}"),
            );
        }
    }
    // Raw bytes in the request line never reach a handler.
    let answer = raw(
        &app,
        &[
            &b"GET /scim/v2/Users/\xff HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "[..],
            TOKEN_A.as_bytes(),
            b"\r\nConnection: close\r\n\r\n",
        ]
        .concat(),
        Duration::from_secs(5),
    )
    .await
    .expect("an answer");
    assert_eq!(answer.status, 400, "{answer:?}");

    // Headers: a Content-Type that is not text is not JSON; an If-Match that is not one of our
    // tags matches nothing (it is never ignored); a token that is not text opens nothing.
    let r = send(
        &app,
        Method::POST,
        "/Users",
        Some(b"application/\xffscim+json"),
        br#"{"userName": "ct@corp.example"}"#.to_vec(),
    )
    .await;
    assert_scim_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, None, "Content-Type with 0xFF");
    let r = app
        .client
        .put(format!("{}/Users/{id}", app.scim))
        .bearer_auth(TOKEN_A)
        .header("content-type", "application/scim+json")
        .header(
            "if-match",
            reqwest::header::HeaderValue::from_bytes(b"W/\"\xff\"").unwrap(),
        )
        .body(json!({"userName": "utf8@corp.example", "title": "changed"}).to_string())
        .send()
        .await
        .unwrap();
    let r = read(r).await;
    assert_scim_error(&r, StatusCode::PRECONDITION_FAILED, None, "If-Match with 0xFF");
    let r = app
        .client
        .get(format!("{}/Users", app.scim))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(format!("Bearer {TOKEN_A}\u{ff}").as_bytes()).unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(app.get(&format!("/Users/{id}")).await.body, user_before);
    assert_eq!(stored(&app).await, before, "nothing stored");
    answers(&app).await;
}

/// U+0000 is refused wherever a client can put it, on both databases (PostgreSQL cannot
/// store it, and SQLite must not hold what PostgreSQL would refuse).
#[tokio::test]
async fn nul_is_400_everywhere() {
    let app = spawn_app().await;
    let id = app.create_user("nul@corp.example").await;
    let gid = app.create_group("nul group", &[&id]).await;
    let before = stored(&app).await;
    let user_before = app.get(&format!("/Users/{id}")).await.body;
    let group_before = app.get(&format!("/Groups/{gid}")).await.body;

    let user_path = format!("/Users/{id}");
    let group_path = format!("/Groups/{gid}");
    let cases: Vec<(Method, &str, Value)> = vec![
        (Method::POST, "/Users", json!({"userName": "a\u{0}b@corp.example"})),
        (
            Method::POST,
            "/Users",
            json!({"userName": "ok@corp.example", "title": "\u{0}"}),
        ),
        (
            Method::POST,
            "/Users",
            json!({"userName": "ok@corp.example", "x\u{0}y": 1}),
        ),
        (
            Method::POST,
            "/Users",
            json!({"userName": "ok@corp.example", "emails": [{"value": "e@x", "type": "wo\u{0}rk"}]}),
        ),
        (
            Method::POST,
            "/Users",
            json!({"schemas": [USER_SCHEMA, "urn:x\u{0}"], "userName": "ok@corp.example"}),
        ),
        (
            Method::PUT,
            &user_path,
            json!({"userName": "nul@corp.example", "nickName": "\u{0}"}),
        ),
        (Method::POST, "/Groups", json!({"displayName": "g\u{0}"})),
        (
            Method::POST,
            "/Groups",
            json!({"displayName": "g", "members": [{"value": format!("{id}\u{0}")}]}),
        ),
        (
            Method::PUT,
            &group_path,
            json!({"displayName": "nul group", "members": [{"value": "\u{0}"}]}),
        ),
        (
            Method::PATCH,
            &user_path,
            patch_body(json!([{"op": "replace", "path": "title", "value": "x\u{0}"}])),
        ),
        (
            Method::PATCH,
            &user_path,
            patch_body(json!([{"op": "replace", "path": "title\u{0}", "value": "x"}])),
        ),
        (
            Method::PATCH,
            &user_path,
            patch_body(json!([{"op": "add", "path": "emails[value eq \"a\\u0000\"].type", "value": "work"}])),
        ),
        (
            Method::PATCH,
            &user_path,
            patch_body(json!([{"op": "add", "value": {"nick\u{0}Name": "x"}}])),
        ),
        (
            Method::PATCH,
            &user_path,
            patch_body(json!([{"op": "add\u{0}", "path": "title", "value": "x"}])),
        ),
        (
            Method::PATCH,
            &group_path,
            patch_body(json!([{"op": "add", "path": "members", "value": [{"value": "\u{0}"}]}])),
        ),
        (
            Method::PATCH,
            &group_path,
            patch_body(json!([{"op": "remove", "path": "members[value eq \"\\u0000\"]"}])),
        ),
        (
            Method::PATCH,
            &group_path,
            patch_body(json!([{"op": "remove", "path": format!("members[value eq \"{id}\u{0}\"]")}])),
        ),
    ];
    for (method, path, body) in cases {
        let what = format!("{method} {path} {body}");
        let r = app.request(method, path, Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.body);
        let t = r.body["scimType"].as_str().unwrap_or_default();
        assert!(
            ["invalidValue", "invalidPath", "invalidFilter"].contains(&t),
            "{what}: {}",
            r.body
        );
    }
    for (query, scim_type) in [
        ("filter=userName%20eq%20%22a%00%22", "invalidFilter"),
        ("filter=userName%20eq%20%22a%5Cu0000%22", "invalidFilter"),
        ("filter=emails%5Bvalue%20eq%20%22%5Cu0000%22%5D", "invalidFilter"),
        ("sortBy=userName%00", "invalidValue"),
        ("attributes=userName%00", "invalidValue"),
    ] {
        for resource in ["/Users", "/Groups"] {
            let r = app.get(&format!("{resource}?{query}")).await;
            assert_scim_error(
                &r,
                StatusCode::BAD_REQUEST,
                Some(scim_type),
                &format!("{resource}?{query}"),
            );
        }
    }
    for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        let body = match method {
            Method::PUT => Some(json!({"userName": "nul@corp.example"})),
            Method::PATCH => Some(patch_body(json!([{"op": "replace", "path": "title", "value": "x"}]))),
            _ => None,
        };
        let path = format!("/Users/{id}%00");
        let r = app.request(method.clone(), &path, body).await;
        assert_scim_error(
            &r,
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
            &format!("{method} {path}"),
        );
    }
    assert_eq!(app.get(&format!("/Users/{id}")).await.body, user_before);
    assert_eq!(app.get(&format!("/Groups/{gid}")).await.body, group_before);
    assert_eq!(stored(&app).await, before, "nothing stored");
    answers(&app).await;
}

#[tokio::test]
async fn wrong_content_types_are_415() {
    let app = spawn_app().await;
    let id = app.create_user("ct@corp.example").await;
    let before = stored(&app).await;
    let user = json!({"userName": "new@corp.example"}).to_string();
    let patch = patch_body(json!([{"op": "replace", "path": "title", "value": "x"}])).to_string();
    for ct in [
        &b"text/plain"[..],
        b"text/json",
        b"application/x-www-form-urlencoded",
        b"multipart/form-data; boundary=x",
        b"application/xml",
        b"application/octet-stream",
        b"application/json; charset=utf-16",
        b"application/scim+json; charset=iso-8859-1",
        b"application/json\xff",
    ] {
        let what = String::from_utf8_lossy(ct).into_owned();
        for (method, path, body) in [
            (Method::POST, "/Users".to_string(), user.clone()),
            (Method::PUT, format!("/Users/{id}"), user.clone()),
            (Method::PATCH, format!("/Users/{id}"), patch.clone()),
        ] {
            let r = send(&app, method.clone(), &path, Some(ct), body.into_bytes()).await;
            assert_scim_error(
                &r,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                &format!("{method} {what}"),
            );
        }
    }
    // What the IdPs send is accepted.
    for ct in [&b"application/scim+json; charset=UTF-8"[..], b"application/json"] {
        let r = send(
            &app,
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(ct),
            patch.clone().into_bytes(),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::NO_CONTENT,
            "{}: {}",
            String::from_utf8_lossy(ct),
            r.body
        );
    }
    let after = stored(&app).await;
    assert_eq!(after[..3], before[..3], "no resource stored");
    answers(&app).await;
}

#[tokio::test]
async fn duplicate_keys_are_400() {
    let app = spawn_app().await;
    let id = app.create_user("dup@corp.example").await;
    let gid = app.create_group("dup group", &[]).await;
    let before = stored(&app).await;
    let user_before = app.get(&format!("/Users/{id}")).await.body;
    let cases: Vec<(Method, String, String)> = vec![
        (
            Method::POST,
            "/Users".into(),
            r#"{"userName": "a@corp.example", "userName": "b@corp.example"}"#.into(),
        ),
        // Attribute names are case-insensitive (RFC 7643 §2.1): these name one attribute twice.
        (
            Method::POST,
            "/Users".into(),
            r#"{"userName": "a@corp.example", "USERNAME": "b@corp.example"}"#.into(),
        ),
        (
            Method::POST,
            "/Users".into(),
            r#"{"userName": "a@corp.example", "name": {"givenName": "A", "givenname": "B"}}"#.into(),
        ),
        (
            Method::POST,
            "/Users".into(),
            r#"{"userName": "a@corp.example", "emails": [{"value": "a@corp.example", "value": "b@corp.example"}]}"#
                .into(),
        ),
        (
            Method::PUT,
            format!("/Users/{id}"),
            r#"{"userName": "dup@corp.example", "active": true, "active": false}"#.into(),
        ),
        (
            Method::POST,
            "/Groups".into(),
            r#"{"displayName": "a", "displayName": "b"}"#.into(),
        ),
        (
            Method::POST,
            "/Groups".into(),
            format!(r#"{{"displayName": "a", "members": [{{"value": "{id}", "value": "x"}}]}}"#),
        ),
        (
            Method::PATCH,
            format!("/Users/{id}"),
            format!(
                r#"{{"schemas": ["{PATCH_SCHEMA}"], "Operations": [{{"op": "add", "op": "remove", "path": "title", "value": "x"}}]}}"#
            ),
        ),
        (
            Method::PATCH,
            format!("/Users/{id}"),
            format!(
                r#"{{"schemas": ["{PATCH_SCHEMA}"], "Operations": [{{"op": "add", "path": "title", "path": "userName", "value": "x"}}]}}"#
            ),
        ),
        (
            Method::PATCH,
            format!("/Users/{id}"),
            format!(
                r#"{{"schemas": ["{PATCH_SCHEMA}"], "Operations": [], "operations": [{{"op": "replace", "path": "title", "value": "x"}}]}}"#
            ),
        ),
        (
            Method::PATCH,
            format!("/Groups/{gid}"),
            format!(
                r#"{{"schemas": ["{PATCH_SCHEMA}"], "Operations": [{{"op": "add", "path": "members", "value": [{{"value": "{id}", "Value": "x"}}]}}]}}"#
            ),
        ),
    ];
    for (method, path, body) in cases {
        let what = format!("{method} {path} {body}");
        let r = send_json(&app, method, &path, body).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidSyntax"), &what);
    }
    assert_eq!(app.get(&format!("/Users/{id}")).await.body, user_before);
    assert_eq!(stored(&app).await, before, "nothing stored");
    answers(&app).await;
}

#[tokio::test]
async fn numbers_where_strings_belong_are_400() {
    let app = spawn_app().await;
    let id = app.create_user("num@corp.example").await;
    let gid = app.create_group("num group", &[]).await;
    let before = stored(&app).await;
    let user_before = app.get(&format!("/Users/{id}")).await.body;
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let user_path = format!("/Users/{id}");
    let group_path = format!("/Groups/{gid}");
    let cases: Vec<(Method, &str, Value)> = vec![
        (Method::POST, "/Users", json!({"userName": 5})),
        (Method::POST, "/Users", json!({"userName": true})),
        (
            Method::POST,
            "/Users",
            json!({"userName": "n1@corp.example", "title": 42}),
        ),
        (
            Method::POST,
            "/Users",
            json!({"userName": "n2@corp.example", "externalId": 7}),
        ),
        (
            Method::POST,
            "/Users",
            json!({"userName": "n3@corp.example", "name": {"givenName": 1}}),
        ),
        (
            Method::POST,
            "/Users",
            json!({"userName": "n4@corp.example", "emails": [{"value": 7, "type": "work"}]}),
        ),
        (
            Method::POST,
            "/Users",
            json!({"userName": "n5@corp.example", enterprise: {"employeeNumber": 42}}),
        ),
        (
            Method::POST,
            "/Users",
            json!({"userName": "n6@corp.example", enterprise: {"manager": 42}}),
        ),
        (
            Method::PUT,
            &user_path,
            json!({"userName": "num@corp.example", "displayName": 1.5}),
        ),
        (Method::POST, "/Groups", json!({"displayName": 5})),
        (
            Method::POST,
            "/Groups",
            json!({"displayName": "n", "members": [{"value": 5}]}),
        ),
        (
            Method::PATCH,
            &user_path,
            patch_body(json!([{"op": "replace", "path": "title", "value": 42}])),
        ),
        (
            Method::PATCH,
            &user_path,
            patch_body(json!([{"op": "replace", "value": {"nickName": false}}])),
        ),
        (
            Method::PATCH,
            &user_path,
            patch_body(json!([{"op": "replace", "path": "name.familyName", "value": 3}])),
        ),
        (
            Method::PATCH,
            &group_path,
            patch_body(json!([{"op": "replace", "path": "displayName", "value": 12}])),
        ),
        (
            Method::PATCH,
            &group_path,
            patch_body(json!([{"op": "add", "path": "members", "value": [{"value": 12}]}])),
        ),
    ];
    for (method, path, body) in cases {
        let what = format!("{method} {path} {body}");
        let r = app.request(method, path, Some(body)).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"), &what);
    }
    assert_eq!(app.get(&format!("/Users/{id}")).await.body, user_before);
    assert_eq!(stored(&app).await, before, "nothing stored");
    answers(&app).await;
}

/// How a trickling connection ended.
#[derive(Debug)]
enum Cut {
    /// The server closed it, after this long, with the status it answered (if any).
    Closed(Duration, Option<u16>),
    /// Still open when the test stopped waiting.
    Open,
}

/// Sends `head` one byte every 100 ms, then `body` the same way, until the server closes the
/// connection or `limit` passes.
async fn trickle(addr: String, head: Vec<u8>, body: Vec<u8>, limit: Duration) -> Cut {
    let started = Instant::now();
    let Ok(stream) = TcpStream::connect(&addr).await else {
        return Cut::Closed(Duration::ZERO, None);
    };
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        for b in head.into_iter().chain(body) {
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Everything sent (never, within the limits used): hold the connection open.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    let mut answer = Vec::new();
    let ended = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    writer.abort();
    match ended {
        Err(_) => Cut::Open,
        Ok(()) => {
            let status = String::from_utf8_lossy(&answer)
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok());
            Cut::Closed(started.elapsed(), status)
        }
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_the_daemon_keeps_answering() {
    let app = spawn_with(|c| {
        c.server.header_timeout_secs = 2;
        c.server.body_timeout_secs = 2;
    })
    .await;
    let before = stored(&app).await;
    let addr = host_port(&app);
    let limit = Duration::from_secs(8);
    let mut conns = Vec::new();
    // 100 connections trickling a request head that never ends…
    for i in 0..100 {
        let head = format!(
            "GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nX-Slow-{i}: {}",
            "a".repeat(200)
        )
        .into_bytes();
        conns.push(("head", tokio::spawn(trickle(addr.clone(), head, Vec::new(), limit))));
    }
    // …10 that say nothing at all…
    for _ in 0..10 {
        conns.push((
            "silent",
            tokio::spawn(trickle(addr.clone(), Vec::new(), Vec::new(), limit)),
        ));
    }
    // …and 20 that send a whole head, then trickle a 1 KB body.
    for i in 0..20 {
        let body = json!({"userName": format!("slow{i}@corp.example"), "title": "x".repeat(1000)}).to_string();
        let head = format!(
            "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN_A}\r\n\
             Content-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        // The head goes at once: only the body is slow.
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        conns.push((
            "body",
            tokio::spawn(async move {
                let (mut rd, mut wr) = s.into_split();
                let writer = tokio::spawn(async move {
                    for b in body.into_bytes() {
                        if wr.write_all(&[b]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
                let mut answer = Vec::new();
                let ended = tokio::time::timeout(limit, async {
                    let mut buf = [0u8; 4096];
                    loop {
                        match rd.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => answer.extend_from_slice(&buf[..n]),
                        }
                    }
                })
                .await;
                writer.abort();
                match ended {
                    Err(_) => Cut::Open,
                    Ok(()) => Cut::Closed(
                        started.elapsed(),
                        String::from_utf8_lossy(&answer)
                            .split(' ')
                            .nth(1)
                            .and_then(|s| s.parse().ok()),
                    ),
                }
            }),
        ));
    }
    // Meanwhile the daemon answers others at once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        answers(&app).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut open = Vec::new();
    for (kind, c) in conns {
        match c.await.unwrap() {
            Cut::Open => open.push(kind),
            Cut::Closed(after, status) => {
                assert!(
                    after < Duration::from_secs(5),
                    "a {kind} connection was cut only after {after:?}"
                );
                if kind == "body" {
                    // The answer may be lost to the reset of a connection closed with bytes
                    // unread; when it arrives, it says why.
                    assert!(status.is_none() || status == Some(408), "{kind}: {status:?}");
                }
            }
        }
    }
    assert!(
        open.is_empty(),
        "{} connections still open after {limit:?}: {open:?}",
        open.len()
    );
    answers(&app).await;
    assert_eq!(stored(&app).await, before, "nothing stored");
}

#[tokio::test]
async fn another_tenants_token_reaches_nothing() {
    let app = spawn_app().await;
    let id = app.create_user("mine@corp.example").await;
    let gid = app.create_group("mine", &[&id]).await;
    let user_before = app.get(&format!("/Users/{id}")).await.body;
    let group_before = app.get(&format!("/Groups/{gid}")).await.body;
    let before = stored(&app).await;
    let b = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        async move { app.request_as(TOKEN_B, method, &path, body).await }
    };
    for path in [format!("/Users/{id}"), format!("/Groups/{gid}")] {
        assert_eq!(
            b(Method::GET, path.clone(), None).await.status,
            StatusCode::NOT_FOUND,
            "GET {path}"
        );
        assert_eq!(
            b(Method::DELETE, path.clone(), None).await.status,
            StatusCode::NOT_FOUND,
            "DELETE {path}"
        );
        let patch = patch_body(json!([{"op": "replace", "path": "displayName", "value": "taken"}]));
        assert_eq!(
            b(Method::PATCH, path.clone(), Some(patch)).await.status,
            StatusCode::NOT_FOUND,
            "PATCH {path}"
        );
    }
    let r = b(
        Method::PUT,
        format!("/Users/{id}"),
        Some(json!({"userName": "mine@corp.example"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = b(
        Method::PUT,
        format!("/Groups/{gid}"),
        Some(json!({"displayName": "mine"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for path in [
        "/Users".to_string(),
        filter_path("/Users", "userName eq \"mine@corp.example\""),
        filter_path("/Users", &format!("id eq \"{id}\"")),
        filter_path("/Groups", &format!("members[value eq \"{id}\"]")),
        "/Groups".to_string(),
    ] {
        let r = b(Method::GET, path.clone(), None).await;
        assert_eq!(r.body["totalResults"], 0, "{path}: {}", r.body);
    }
    // Tenant a's user cannot join tenant b's group.
    let r = b(
        Method::POST,
        "/Groups".into(),
        Some(json!({"displayName": "theirs", "members": [{"value": id}]})),
    )
    .await;
    assert_scim_error(
        &r,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "a member of another tenant",
    );
    assert_eq!(app.get(&format!("/Users/{id}")).await.body, user_before);
    assert_eq!(app.get(&format!("/Groups/{gid}")).await.body, group_before);
    assert_eq!(stored(&app).await, before, "nothing stored");
}

#[tokio::test]
async fn locations_never_echo_the_host_header() {
    let app = spawn_app().await;
    let own = format!("{}/", app.scim);
    let forged = [
        "evil.example",
        "evil.example:443",
        "127.0.0.1.evil.example",
        "evil.example/\"><script>alert(1)</script>",
    ];
    for host in forged {
        let r = app
            .client
            .post(format!("{}/Users", app.scim))
            .bearer_auth(TOKEN_A)
            .header("host", host)
            .header("content-type", "application/scim+json")
            .body(json!({"userName": format!("{}@corp.example", host.len())}).to_string())
            .send()
            .await
            .unwrap();
        let r = read(r).await;
        assert_eq!(r.status, StatusCode::CREATED, "{host}: {}", r.body);
        let location = r.headers["location"].to_str().unwrap();
        assert!(location.starts_with(&own), "Location {location} (Host {host})");
        let meta = r.body["meta"]["location"].as_str().unwrap();
        assert_eq!(meta, location, "Host {host}");
        let id = r.id();
        let gid = app.create_group(&format!("g{}", host.len()), &[&id]).await;
        for path in [
            format!("/Users/{id}"),
            format!("/Groups/{gid}"),
            "/Users".into(),
            "/ServiceProviderConfig".into(),
        ] {
            let r = app
                .client
                .get(format!("{}{path}", app.scim))
                .bearer_auth(TOKEN_A)
                .header("host", host)
                .header("x-forwarded-host", "evil.example")
                .send()
                .await
                .unwrap();
            let text = r.text().await.unwrap();
            assert!(!text.contains("evil.example"), "{path} with Host {host}: {text}");
            assert!(text.contains(&own), "{path}: {text}");
        }
    }
    // With server.public_url, that is the base.
    let app = spawn_with(|c| c.server.public_url = Some("https://scim.corp.example/".into())).await;
    let r = app.post("/Users", json!({"userName": "public@corp.example"})).await;
    assert!(
        r.headers["location"]
            .to_str()
            .unwrap()
            .starts_with("https://scim.corp.example/scim/v2/Users/"),
        "{:?}",
        r.headers
    );
}

/// The real binary, logging everything down to trace, as JSON; stderr is collected.
struct Daemon {
    child: tokio::process::Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

async fn start_binary(config: &std::path::Path, token_env: &str) -> (Daemon, Option<String>) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cic-bridge"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .env(token_env, TOKEN_A)
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the cic-bridge binary starts");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let addr_tx = Arc::new(Mutex::new(Some(addr_tx)));
    let listening = regex::Regex::new(r"127\.0\.0\.1:(\d+)").unwrap();
    for out in [
        Box::new(child.stderr.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(child.stdout.take().unwrap()),
    ] {
        let log = log.clone();
        let addr_tx = addr_tx.clone();
        let re = listening.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("serving SCIM") {
                    if let (Some(c), Some(tx)) = (re.captures(&line), addr_tx.lock().unwrap().take()) {
                        let _ = tx.send(c[1].to_string());
                    }
                }
                log.lock().unwrap().push(line);
            }
        });
    }
    // Only the readers hold the sender now: a daemon that exits without listening ends the wait.
    drop(addr_tx);
    let port = tokio::time::timeout(Duration::from_secs(30), addr_rx)
        .await
        .ok()
        .and_then(Result::ok);
    (Daemon { child, log }, port)
}

/// `url` with `password` put in its user info, unless it has one already; and the password.
fn with_password(url: &str, password: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (auth, host) = rest.split_once('@').unwrap_or(("postgres", rest));
    match auth.split_once(':') {
        Some((_, existing)) => (url.to_string(), existing.to_string()),
        None => (format!("{scheme}://{auth}:{password}@{host}"), password.to_string()),
    }
}

#[tokio::test]
async fn the_logs_never_hold_a_password() {
    const PASSWORD: &str = "Pa55-hostile-user-secret";
    const DB_PASSWORD: &str = "db-hostile-secret-9d3f";
    let db = crate::db::fresh().await;
    // On PostgreSQL the URL carries a password (the test cluster trusts loopback, so any will
    // do); a SQLite URL has none, and the second run below shows an unreachable PostgreSQL's.
    let (url, db_secret) = if crate::db::is_postgres() {
        with_password(&db.url, DB_PASSWORD)
    } else {
        (db.url.clone(), DB_PASSWORD.to_string())
    };
    let config = |url: &str| {
        format!(
            r#"
[server]
listen = "127.0.0.1:0"
shutdown_timeout_secs = 3

[database]
url = "{url}"

[log]
format = "json"
level = "trace"

[cic]
endpoint = "http://127.0.0.1:9"

[engine]
deployment_check_secs = 0
organization_refresh_secs = 0

[[tenants]]
name = "corp"
zone_id = "z-aaaaaaaaaaaa"
token_env = "HOSTILE_TEST_TOKEN"
mode = "shadow"
"#
        )
    };
    let path = db.dir.path().join("cic-bridge.toml");
    std::fs::write(&path, config(&url)).unwrap();
    let (mut d, port) = start_binary(&path, "HOSTILE_TEST_TOKEN").await;
    let port = port.unwrap_or_else(|| panic!("no 'serving SCIM' line; log:\n{}", d.log()));
    let scim = format!("http://127.0.0.1:{port}/scim/v2");
    let client = reqwest::Client::new();
    let call = |method: Method, path: String, body: Value| {
        let req = client
            .request(method, format!("{scim}{path}"))
            .bearer_auth(TOKEN_A)
            .header("content-type", "application/scim+json")
            .body(body.to_string());
        async move { read(req.send().await.unwrap()).await }
    };
    let r = call(
        Method::POST,
        "/Users".into(),
        json!({"userName": "pw@corp.example", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(!r.body.to_string().contains(PASSWORD));
    let id = r.id();
    for (method, path, body) in [
        (
            Method::PUT,
            format!("/Users/{id}"),
            json!({"userName": "pw@corp.example", "password": PASSWORD}),
        ),
        (
            Method::PATCH,
            format!("/Users/{id}"),
            patch_body(json!([{"op": "replace", "path": "password", "value": PASSWORD}])),
        ),
        (
            Method::PATCH,
            format!("/Users/{id}"),
            patch_body(json!([{"op": "replace", "value": {"password": PASSWORD}}])),
        ),
        // Refused requests that carry it: a bad value next to it, a duplicate key.
        (
            Method::PATCH,
            format!("/Users/{id}"),
            patch_body(json!([{"op": "replace", "value": {"password": PASSWORD, "active": "maybe"}}])),
        ),
        (
            Method::POST,
            "/Users".into(),
            json!({"userName": 5, "password": PASSWORD}),
        ),
        (
            Method::PATCH,
            format!("/Users/{id}"),
            patch_body(json!([{"op": "replace", "path": "password", "value": {"x": PASSWORD}}])),
        ),
    ] {
        let r = call(method.clone(), path.clone(), body).await;
        assert!(r.status.as_u16() < 500, "{method} {path}: {}", r.body);
        assert!(!r.body.to_string().contains(PASSWORD), "{method} {path}: {}", r.body);
    }
    let r = client
        .get(format!(
            "{scim}/Users?filter={}",
            enc(&format!("password eq \"{PASSWORD}\""))
        ))
        .bearer_auth(TOKEN_A)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client
        .post(format!("{scim}/Users"))
        .bearer_auth(TOKEN_A)
        .header("content-type", "application/scim+json")
        .body(format!(
            r#"{{"userName": "dup@corp.example", "password": "{PASSWORD}", "password": "{PASSWORD}"}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = d.child.id().unwrap().to_string();
    assert!(
        tokio::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(10), d.child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "log:\n{}", d.log());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = d.log();
    assert!(log.contains("serving SCIM"), "{log}");
    for secret in [PASSWORD, &db_secret, TOKEN_A] {
        assert!(!log.contains(secret), "the log holds a secret ({secret}):\n{log}");
    }

    // A PostgreSQL URL with a password, where nothing listens: start-up fails and says why,
    // without the password.
    let unreachable = format!("postgres://cicb:{DB_PASSWORD}@127.0.0.1:9/cicb");
    std::fs::write(&path, config(&unreachable)).unwrap();
    let (mut d, port) = start_binary(&path, "HOSTILE_TEST_TOKEN").await;
    assert!(port.is_none(), "{}", d.log());
    let status = tokio::time::timeout(Duration::from_secs(40), d.child.wait())
        .await
        .expect("start-up gives up")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!status.success());
    let log = d.log();
    assert!(log.contains("127.0.0.1:9"), "the error names the database: {log}");
    assert!(
        !log.contains(DB_PASSWORD),
        "the error holds the database password:\n{log}"
    );
}
