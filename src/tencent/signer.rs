//! TC3-HMAC-SHA256, the request signature of Tencent Cloud API 3.0, as pure functions.
//!
//! The client signs with [`sign`]; the emulator checks with [`parse_authorization`] and
//! [`verify`]. Both go through the same canonicalisation code, and the unit tests replay every
//! vector in `tests/fixtures/tc3-vectors.json` (produced by Tencent's Python SDK).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use time::macros::format_description;

/// The only algorithm Tencent Cloud API 3.0 knows.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// Last element of the credential scope.
pub const SCOPE_TERMINATOR: &str = "tc3_request";
/// Value of `X-TC-Content-SHA256` asking the server to hash this literal instead of the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

type HmacSha256 = Hmac<Sha256>;

/// What a signature covers. `headers` are the headers to sign, as (name, value) in any order
/// and any case; canonicalisation sorts and lower-cases them.
#[derive(Debug, Clone, Copy)]
pub struct SigningInput<'a> {
    pub method: &'a str,
    pub canonical_uri: &'a str,
    pub canonical_query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
    /// Service name in the credential scope (`organization`), not derived from the host: the
    /// SDKs take it from the client class, which is what lets them talk to an emulator on
    /// `127.0.0.1:PORT`.
    pub service: &'a str,
    pub timestamp: i64,
}

/// Every intermediate value, so tests can pinpoint which step disagrees with a vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub date: String,
    pub credential_scope: String,
    pub hashed_payload: String,
    pub canonical_headers: String,
    pub signed_headers: String,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
}

/// The timestamp is outside what a calendar date can be computed for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timestamp {0} cannot be turned into a UTC date")]
pub struct BadTimestamp(pub i64);

/// The UTC calendar date of a Unix timestamp, `YYYY-MM-DD`. Tencent uses UTC here, not the
/// signer's local time: 1735689599 is `2024-12-31` even in Beijing, where it is already 2025.
pub fn credential_date(timestamp: i64) -> Result<String, BadTimestamp> {
    let at = OffsetDateTime::from_unix_timestamp(timestamp).map_err(|_| BadTimestamp(timestamp))?;
    at.format(format_description!("[year]-[month]-[day]"))
        .map_err(|_| BadTimestamp(timestamp))
}

pub fn credential_scope(date: &str, service: &str) -> String {
    format!("{date}/{service}/{SCOPE_TERMINATOR}")
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Canonical header block and signed-header list. Names and values are lower-cased and
/// trimmed (the platform rule; the official demo signs `x-tc-action:getuser`), sorted by name.
/// The block ends with `\n`, which is why a canonical request has an empty line after it.
pub fn canonical_headers(headers: &[(&str, &str)]) -> (String, String) {
    let mut pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_lowercase()))
        .collect();
    pairs.sort();
    let mut block = String::new();
    for (name, value) in &pairs {
        block.push_str(name);
        block.push(':');
        block.push_str(value);
        block.push('\n');
    }
    let signed = pairs
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (block, signed)
}

pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    hashed_payload: &str,
) -> String {
    format!("{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{hashed_payload}")
}

pub fn string_to_sign(timestamp: i64, credential_scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{credential_scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; the fallback keeps
    // the function total without an unwrap.
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// kDate = HMAC("TC3" + key, date); kService = HMAC(kDate, service); kSigning = HMAC(kService,
/// "tc3_request"). Lower-case hex of HMAC(kSigning, string to sign).
pub fn signature_hex(secret_key: &str, date: &str, service: &str, string_to_sign: &str) -> String {
    let k_date = hmac(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac(&k_date, service.as_bytes());
    let k_signing = hmac(&k_service, SCOPE_TERMINATOR.as_bytes());
    hex::encode(hmac(&k_signing, string_to_sign.as_bytes()))
}

/// `Authorization` header value, with the exact ", " separators the SDKs emit.
pub fn authorization(secret_id: &str, credential_scope: &str, signed_headers: &str, signature: &str) -> String {
    format!(
        "{ALGORITHM} Credential={secret_id}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

/// Computes every step of the signature for `input` with `secret_key`.
pub fn sign(input: &SigningInput<'_>, secret_key: &str) -> Result<Signature, BadTimestamp> {
    let date = credential_date(input.timestamp)?;
    let credential_scope = credential_scope(&date, input.service);
    let hashed_payload = sha256_hex(input.payload);
    let (canonical_headers, signed_headers) = canonical_headers(input.headers);
    let canonical_request = canonical_request(
        input.method,
        input.canonical_uri,
        input.canonical_query,
        &canonical_headers,
        &signed_headers,
        &hashed_payload,
    );
    let string_to_sign = string_to_sign(input.timestamp, &credential_scope, &canonical_request);
    let signature = signature_hex(secret_key, &date, input.service, &string_to_sign);
    Ok(Signature {
        date,
        credential_scope,
        hashed_payload,
        canonical_headers,
        signed_headers,
        canonical_request,
        string_to_sign,
        signature,
    })
}

/// The parts of an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    pub secret_id: String,
    pub date: String,
    pub service: String,
    pub terminator: String,
    /// Lower-case names, in the order the client listed them.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed TC3 Authorization header: {0}")]
pub struct MalformedAuthorization(pub &'static str);

/// Parses `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=a;b,
/// Signature=HEX`. Separators are accepted with or without the space after the comma.
pub fn parse_authorization(header: &str) -> Result<ParsedAuthorization, MalformedAuthorization> {
    let rest = header
        .trim()
        .strip_prefix(ALGORITHM)
        .ok_or(MalformedAuthorization("algorithm is not TC3-HMAC-SHA256"))?;
    if !rest.starts_with(' ') {
        return Err(MalformedAuthorization("missing space after algorithm"));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(MalformedAuthorization("part without '='"))?;
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => return Err(MalformedAuthorization("unknown part")),
        }
    }
    let credential = credential.ok_or(MalformedAuthorization("no Credential"))?;
    let signed_headers = signed_headers.ok_or(MalformedAuthorization("no SignedHeaders"))?;
    let signature = signature.ok_or(MalformedAuthorization("no Signature"))?;
    // The SecretId itself never contains '/', so the scope is the last three segments.
    let mut segments = credential.rsplitn(4, '/');
    let terminator = segments.next().unwrap_or_default();
    let service = segments.next().unwrap_or_default();
    let date = segments.next().unwrap_or_default();
    let secret_id = segments.next().unwrap_or_default();
    if secret_id.is_empty() || date.is_empty() || service.is_empty() || terminator.is_empty() {
        return Err(MalformedAuthorization("Credential is not ID/date/service/tc3_request"));
    }
    if signature.is_empty() || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(MalformedAuthorization("Signature is not hex"));
    }
    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if signed_headers.iter().any(String::is_empty) {
        return Err(MalformedAuthorization("empty name in SignedHeaders"));
    }
    Ok(ParsedAuthorization {
        secret_id: secret_id.to_owned(),
        date: date.to_owned(),
        service: service.to_owned(),
        terminator: terminator.to_owned(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// What the server saw, for [`verify`].
#[derive(Clone, Copy)]
pub struct ReceivedRequest<'a> {
    pub method: &'a str,
    pub canonical_uri: &'a str,
    pub canonical_query: &'a str,
    /// Values of the headers named in `SignedHeaders`, looked up by lower-case name. A named
    /// header that was not sent makes verification fail.
    pub header: &'a dyn Fn(&str) -> Option<String>,
    /// The body, or `UNSIGNED-PAYLOAD` when the client sent `X-TC-Content-SHA256` with that.
    pub payload: &'a [u8],
    pub timestamp: i64,
}

/// Recomputes the signature over the headers the client listed in `SignedHeaders` (the SDKs
/// sign `content-type;host`, the official demo adds `x-tc-action`, so the list must come from
/// the request) and compares in constant time.
pub fn verify(parsed: &ParsedAuthorization, secret_key: &str, request: &ReceivedRequest<'_>) -> bool {
    let mut values = Vec::with_capacity(parsed.signed_headers.len());
    for name in &parsed.signed_headers {
        match (request.header)(name) {
            Some(value) => values.push((name.as_str(), value)),
            None => return false,
        }
    }
    let headers: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let Ok(expected) = sign(
        &SigningInput {
            method: request.method,
            canonical_uri: request.canonical_uri,
            canonical_query: request.canonical_query,
            headers: &headers,
            payload: request.payload,
            service: &parsed.service,
            timestamp: request.timestamp,
        },
        secret_key,
    ) else {
        return false;
    };
    // The recomputed list is sorted; a client that listed its headers out of order signed a
    // different string, exactly as the real server would see it.
    if expected.signed_headers != parsed.signed_headers.join(";") {
        return false;
    }
    expected.date == parsed.date && bool::from(expected.signature.as_bytes().ct_eq(parsed.signature.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    struct Vector {
        name: String,
        service: String,
        timestamp: i64,
        secret_id: String,
        secret_key: String,
        http_method: String,
        canonical_uri: String,
        canonical_query: String,
        payload: String,
        headers_sent: BTreeMap<String, String>,
        date: String,
        credential_scope: String,
        hashed_payload: String,
        canonical_headers: String,
        signed_headers: String,
        canonical_request: String,
        string_to_sign: String,
        signature: String,
        authorization: String,
    }

    fn vectors() -> Vec<Vector> {
        let text = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tc3-vectors.json"));
        serde_json::from_str(text).expect("fixture parses")
    }

    fn header_ci<'a>(headers: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn every_vector_signs_identically() {
        let vectors = vectors();
        assert_eq!(vectors.len(), 9, "the fixture has nine cases");
        for v in &vectors {
            let names: Vec<&str> = v.signed_headers.split(';').collect();
            let headers: Vec<(&str, &str)> = names
                .iter()
                .map(|n| (*n, header_ci(&v.headers_sent, n).expect("signed header was sent")))
                .collect();
            let input = SigningInput {
                method: &v.http_method,
                canonical_uri: &v.canonical_uri,
                canonical_query: &v.canonical_query,
                headers: &headers,
                payload: v.payload.as_bytes(),
                service: &v.service,
                timestamp: v.timestamp,
            };
            let got = sign(&input, &v.secret_key).expect("sign");
            assert_eq!(got.date, v.date, "{}: date", v.name);
            assert_eq!(got.credential_scope, v.credential_scope, "{}: scope", v.name);
            assert_eq!(got.hashed_payload, v.hashed_payload, "{}: payload hash", v.name);
            assert_eq!(
                got.canonical_headers, v.canonical_headers,
                "{}: canonical headers",
                v.name
            );
            assert_eq!(got.signed_headers, v.signed_headers, "{}: signed headers", v.name);
            assert_eq!(
                got.canonical_request, v.canonical_request,
                "{}: canonical request",
                v.name
            );
            assert_eq!(got.string_to_sign, v.string_to_sign, "{}: string to sign", v.name);
            assert_eq!(got.signature, v.signature, "{}: signature", v.name);
            let auth = authorization(&v.secret_id, &got.credential_scope, &got.signed_headers, &got.signature);
            assert_eq!(auth, v.authorization, "{}: authorization", v.name);
            assert_eq!(
                header_ci(&v.headers_sent, "authorization"),
                Some(v.authorization.as_str())
            );
        }
    }

    #[test]
    fn every_vector_verifies_and_tampering_fails() {
        for v in vectors() {
            let parsed = parse_authorization(&v.authorization).expect("parses");
            assert_eq!(parsed.secret_id, v.secret_id);
            assert_eq!(parsed.service, "organization");
            let sent = v.headers_sent.clone();
            let lookup = move |name: &str| header_ci(&sent, name).map(str::to_owned);
            let request = ReceivedRequest {
                method: "POST",
                canonical_uri: "/",
                canonical_query: "",
                header: &lookup,
                payload: v.payload.as_bytes(),
                timestamp: v.timestamp,
            };
            assert!(verify(&parsed, &v.secret_key, &request), "{}: verifies", v.name);
            assert!(!verify(&parsed, "wrong-key", &request), "{}: wrong key", v.name);
            let tampered = format!("{} ", v.payload);
            let changed_body = ReceivedRequest {
                payload: tampered.as_bytes(),
                ..request
            };
            assert!(!verify(&parsed, &v.secret_key, &changed_body), "{}: body", v.name);
            let later = ReceivedRequest {
                timestamp: v.timestamp + 1,
                ..request
            };
            assert!(!verify(&parsed, &v.secret_key, &later), "{}: timestamp", v.name);
        }
    }

    #[test]
    fn utc_date_edge() {
        assert_eq!(credential_date(1_735_689_599).as_deref(), Ok("2024-12-31"));
        assert_eq!(credential_date(1_735_689_600).as_deref(), Ok("2025-01-01"));
        assert!(credential_date(i64::MAX).is_err());
    }

    #[test]
    fn parse_rejects_garbage() {
        for bad in [
            "",
            "Bearer abc",
            "TC3-HMAC-SHA256",
            "TC3-HMAC-SHA256 Credential=AKID/2024-01-01/organization/tc3_request, SignedHeaders=content-type;host",
            "TC3-HMAC-SHA256 Credential=2024-01-01/organization/tc3_request, SignedHeaders=host, Signature=ab",
            "TC3-HMAC-SHA256 Credential=AKID/2024-01-01/organization/tc3_request, SignedHeaders=host, Signature=xyz",
            "TC3-HMAC-SHA256 Credential=AKID/2024-01-01/organization/tc3_request, SignedHeaders=;host, Signature=ab",
            "TC3-HMAC-SHA256 Credential=AKID/2024-01-01/organization/tc3_request, Foo=1, Signature=ab",
        ] {
            assert!(parse_authorization(bad).is_err(), "{bad:?} should not parse");
        }
        let ok = parse_authorization(
            "TC3-HMAC-SHA256 Credential=AKID/2024-01-01/organization/tc3_request,SignedHeaders=Content-Type;Host,Signature=AB",
        )
        .expect("compact separators parse");
        assert_eq!(ok.signed_headers, vec!["content-type", "host"]);
        assert_eq!(ok.signature, "ab");
    }

    proptest::proptest! {
        /// Whatever the body, header values and key, what `sign` produces `verify` accepts, and
        /// one changed body byte is rejected.
        #[test]
        fn sign_then_verify_round_trips(
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            host in "[a-z0-9.:-]{1,40}",
            key in "[ -~]{1,40}",
            timestamp in 0_i64..4_000_000_000,
            flip in proptest::prelude::any::<usize>(),
        ) {
            let headers = [("Content-Type", "application/json"), ("Host", host.as_str())];
            let input = SigningInput {
                method: "POST",
                canonical_uri: "/",
                canonical_query: "",
                headers: &headers,
                payload: &payload,
                service: "organization",
                timestamp,
            };
            let sig = sign(&input, &key).unwrap();
            let auth = authorization("AKID", &sig.credential_scope, &sig.signed_headers, &sig.signature);
            let parsed = parse_authorization(&auth).unwrap();
            let lookup = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| (*v).to_owned());
            let request = ReceivedRequest {
                method: "POST",
                canonical_uri: "/",
                canonical_query: "",
                header: &lookup,
                payload: &payload,
                timestamp,
            };
            proptest::prop_assert!(verify(&parsed, &key, &request));
            if !payload.is_empty() {
                let mut changed = payload.clone();
                let i = flip % changed.len();
                changed[i] ^= 0x01;
                let tampered = ReceivedRequest { payload: &changed, ..request };
                proptest::prop_assert!(!verify(&parsed, &key, &tampered));
            }
        }
    }

    #[test]
    fn missing_signed_header_fails_verification() {
        let v = &vectors()[0];
        let parsed = parse_authorization(&v.authorization).expect("parses");
        let lookup = |name: &str| (name == "host").then(|| "organization.tencentcloudapi.com".to_owned());
        let request = ReceivedRequest {
            method: "POST",
            canonical_uri: "/",
            canonical_query: "",
            header: &lookup,
            payload: v.payload.as_bytes(),
            timestamp: v.timestamp,
        };
        assert!(!verify(&parsed, &v.secret_key, &request));
    }
}
