//! Request bodies as JSON, stricter than `serde_json::from_slice::<Value>`, which keeps the last
//! of two equal keys and accepts U+0000.
//!
//! - A key that occurs twice in one object is refused (`invalidSyntax`). Attribute names are
//!   case-insensitive (RFC 7643 §2.1), so `userName` and `USERNAME` are the same key: which of
//!   the two counts would depend on the order of the keys, and a proxy, a log or the IdP that
//!   reads the other one would disagree with what is stored.
//! - U+0000 is refused in every string and key (`invalidValue`): PostgreSQL cannot store it,
//!   and a SQLite deployment must not hold what PostgreSQL would refuse, nor hand Identity
//!   Center a name that C code would cut short.
//! - Nesting is bounded by serde_json's recursion limit (128), which stays in force here: a
//!   deeper body is a syntax error, never a stack overflow.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::ScimError;

/// Parses a request body.
pub fn parse(bytes: &[u8]) -> Result<Value, ScimError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))?;
    if has_nul(&value) {
        return Err(ScimError::invalid_value(
            "the request body contains the NUL character (U+0000), which no value may hold",
        ));
    }
    Ok(value)
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Builds a `Value` as serde_json's own visitor does, refusing duplicate keys.
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity; serde_json refuses numbers out of range before this.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.to_ascii_lowercase()) {
                return Err(de::Error::custom(format!(
                    "the key \"{key}\" occurs twice in one object (attribute names are case-insensitive)"
                )));
            }
            let value = map.next_value_seed(Strict)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::ScimType;
    use serde_json::json;

    fn kind(body: &str) -> Option<ScimType> {
        parse(body.as_bytes()).err().and_then(|e| e.scim_type)
    }

    #[test]
    fn parses_what_serde_json_parses() {
        let body = r#"{"a": [1, -2, 3.5, 18446744073709551615, true, null, "x\u00e9"], "b": {"c": {}}, "d": []}"#;
        assert_eq!(
            parse(body.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(body).unwrap()
        );
        // Key order is kept (serde_json's preserve_order).
        let v = parse(br#"{"z": 1, "a": 2}"#).unwrap();
        assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["z", "a"]);
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth_and_in_any_case() {
        for body in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"userName": "x", "USERNAME": "y"}"#,
            r#"{"x": [{"v": 1, "V": 2}]}"#,
            r#"{"x": {"y": {"z": 1, "z": 1}}}"#,
        ] {
            assert_eq!(kind(body), Some(ScimType::InvalidSyntax), "{body}");
        }
        // The same key in different objects is fine.
        assert!(parse(br#"{"a": {"v": 1}, "b": {"v": 1}, "c": [{"v": 1}, {"v": 2}]}"#).is_ok());
    }

    #[test]
    fn nul_is_refused_in_strings_and_keys() {
        for body in [r#"{"a": "x\u0000"}"#, r#"{"a\u0000": 1}"#, r#"[["\u0000"]]"#] {
            assert_eq!(kind(body), Some(ScimType::InvalidValue), "{body}");
        }
        assert_eq!(parse(br#"{"a": "\u0001"}"#).unwrap(), json!({"a": "\u{1}"}));
    }

    #[test]
    fn bad_text_deep_nesting_and_trailing_bytes_are_syntax_errors() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for body in [
            &b"{\"a\": \"\xff\"}"[..],
            br#"{"a": "\ud800"}"#,
            deep.as_bytes(),
            b"{} {}",
            b"{\"a\": 1e999}",
            b"",
        ] {
            assert_eq!(
                parse(body).err().and_then(|e| e.scim_type),
                Some(ScimType::InvalidSyntax),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
