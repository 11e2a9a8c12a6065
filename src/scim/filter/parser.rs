//! Recursive-descent parser for RFC 7644 §3.4.2.2 filters and §3.5.2 PATCH paths.
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! valFilter = attrExp / logExp / *1"not" "(" valFilter ")"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! attrPath  = [URI ":"] ATTRNAME *1subAttr
//! PATH      = attrPath / valuePath [subAttr]
//! ```
//!
//! Precedence is `not` > `and` > `or`, both binary operators left-associative. Keywords,
//! operators and literals are case-insensitive. Input length and nesting depth are bounded, so a
//! hostile filter costs a 400, never a stack overflow.

use super::ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};

/// Longest filter or path accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not` and value paths accepted.
pub const MAX_DEPTH: usize = 32;

/// A filter or path the server cannot use: maps to 400 `invalidFilter` (or `invalidPath` for a
/// PATCH path). `message` names the offending attribute or token so an IdP admin can act on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", position_suffix(.position))]
pub struct FilterError {
    pub message: String,
    /// Byte offset into the input, when the error is a syntax error.
    pub position: Option<usize>,
}

fn position_suffix(position: &Option<usize>) -> String {
    position.map(|p| format!(" (at position {p})")).unwrap_or_default()
}

impl FilterError {
    pub(crate) fn semantic(message: impl Into<String>) -> FilterError {
        FilterError {
            message: message.into(),
            position: None,
        }
    }

    fn at(message: impl Into<String>, position: usize) -> FilterError {
        FilterError {
            message: message.into(),
            position: Some(position),
        }
    }
}

/// Parses a `filter` query parameter (or the `filter` of a SearchRequest).
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    let mut p = Parser::new(input)?;
    p.skip_ws();
    if p.at_end() {
        return Err(FilterError::at("the filter is empty", 0));
    }
    let filter = p.filter(false)?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.unexpected("\"and\", \"or\" or the end of the filter"));
    }
    Ok(filter)
}

/// Parses a PATCH operation `path`: `members[value eq "x"]`, `emails[type eq "work"].value`,
/// `name.familyName`, `urn:…:enterprise:2.0:User:manager`.
pub fn parse_path(input: &str) -> Result<PatchPath, FilterError> {
    let mut p = Parser::new(input)?;
    p.skip_ws();
    if p.at_end() {
        return Err(FilterError::at("the path is empty", 0));
    }
    let attr = p.attr_path()?;
    let mut filter = None;
    let mut sub_attr = None;
    if p.peek() == Some(b'[') {
        if attr.sub.is_some() {
            return Err(FilterError::at(
                format!("a value filter must follow the attribute name, not the sub-attribute, in \"{attr}[…]\""),
                p.pos,
            ));
        }
        filter = Some(p.bracketed_value_filter()?);
        if p.peek() == Some(b'.') {
            p.pos += 1;
            sub_attr = Some(p.attr_name()?);
        }
    }
    p.skip_ws();
    if !p.at_end() {
        return Err(p.unexpected("the end of the path"));
    }
    Ok(PatchPath { attr, filter, sub_attr })
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$' | b':' | b'.')
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$')
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Parser<'a>, FilterError> {
        if src.len() > MAX_FILTER_LEN {
            return Err(FilterError::semantic(format!(
                "the filter is {} bytes long; at most {MAX_FILTER_LEN} are accepted",
                src.len()
            )));
        }
        Ok(Parser { src, pos: 0, depth: 0 })
    }

    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// A description of what is at the cursor, for error messages.
    fn found(&self) -> String {
        let rest = &self.src[self.pos..];
        if rest.is_empty() {
            return "the end of the input".to_string();
        }
        let token: String = rest.chars().take_while(|c| !c.is_whitespace()).take(20).collect();
        format!("\"{token}\"")
    }

    fn unexpected(&self, expected: &str) -> FilterError {
        FilterError::at(format!("expected {expected}, found {}", self.found()), self.pos)
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::at(
                format!("the filter nests deeper than {MAX_DEPTH} levels"),
                self.pos,
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// The run of ASCII letters at the cursor if it is `keyword` (case-insensitively) and ends
    /// at a token boundary; consumes it only then.
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let end = self.pos + keyword.len();
        let Some(word) = self.src.get(self.pos..end) else {
            return false;
        };
        if !word.eq_ignore_ascii_case(keyword) || self.bytes().get(end).is_some_and(|&b| is_path_char(b)) {
            return false;
        }
        self.pos = end;
        true
    }

    /// `or`-level expression.
    fn filter(&mut self, in_value: bool) -> Result<Filter, FilterError> {
        let mut left = self.conjunction(in_value)?;
        loop {
            let save = self.pos;
            if self.skip_ws() && self.eat_keyword("or") {
                let right = self.conjunction(in_value)?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn conjunction(&mut self, in_value: bool) -> Result<Filter, FilterError> {
        let mut left = self.unary(in_value)?;
        loop {
            let save = self.pos;
            if self.skip_ws() && self.eat_keyword("and") {
                let right = self.unary(in_value)?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn unary(&mut self, in_value: bool) -> Result<Filter, FilterError> {
        self.skip_ws();
        if self.peek() == Some(b'(') {
            return self.parenthesised(in_value);
        }
        let save = self.pos;
        if self.eat_keyword("not") {
            self.skip_ws();
            if self.peek() == Some(b'(') {
                let inner = self.parenthesised(in_value)?;
                return Ok(Filter::Not(Box::new(inner)));
            }
            // An attribute that happens to be called `not`: RFC 7644 requires "(" after the
            // keyword, so anything else is read as an attribute expression.
            self.pos = save;
        }
        self.attr_exp(in_value)
    }

    fn parenthesised(&mut self, in_value: bool) -> Result<Filter, FilterError> {
        let open = self.pos;
        self.enter()?;
        self.pos += 1;
        let inner = self.filter(in_value)?;
        self.skip_ws();
        if self.peek() != Some(b')') {
            return Err(FilterError::at(
                format!(
                    "expected \")\" to close the \"(\" at position {open}, found {}",
                    self.found()
                ),
                self.pos,
            ));
        }
        self.pos += 1;
        self.leave();
        Ok(inner)
    }

    fn bracketed_value_filter(&mut self) -> Result<Filter, FilterError> {
        let open = self.pos;
        self.enter()?;
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            return Err(FilterError::at("the value filter in \"[…]\" is empty", self.pos));
        }
        let inner = self.filter(true)?;
        self.skip_ws();
        if self.peek() != Some(b']') {
            return Err(FilterError::at(
                format!(
                    "expected \"]\" to close the \"[\" at position {open}, found {}",
                    self.found()
                ),
                self.pos,
            ));
        }
        self.pos += 1;
        self.leave();
        Ok(inner)
    }

    fn attr_exp(&mut self, in_value: bool) -> Result<Filter, FilterError> {
        let path = self.attr_path()?;
        if self.peek() == Some(b'[') {
            if in_value {
                return Err(FilterError::at("value filters cannot be nested", self.pos));
            }
            if path.sub.is_some() {
                return Err(FilterError::at(
                    format!("a value filter must follow the attribute name, not the sub-attribute, in \"{path}[…]\""),
                    self.pos,
                ));
            }
            let inner = self.bracketed_value_filter()?;
            if self.peek() == Some(b'.') {
                // Entra sends `emails[type eq "work"].value eq "x"` when the work email is a
                // matching attribute. It is not in the RFC grammar; it means the same element
                // satisfies both, i.e. `emails[type eq "work" and value eq "x"]`.
                self.pos += 1;
                let sub = self.attr_name()?;
                let rest = self.operator_and_value(AttrPath::new(sub))?;
                return Ok(Filter::ValuePath(
                    path,
                    Box::new(Filter::And(Box::new(inner), Box::new(rest))),
                ));
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        self.operator_and_value(path)
    }

    fn operator_and_value(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        if !self.skip_ws() {
            return Err(self.unexpected(&format!("a space and an operator after \"{path}\"")));
        }
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let word = &self.src[start..self.pos];
        if self.peek().is_some_and(is_path_char) || word.is_empty() {
            self.pos = start;
            return Err(self.unexpected(&format!(
                "an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after \"{path}\""
            )));
        }
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(word) else {
            self.pos = start;
            return Err(self.unexpected(&format!(
                "an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after \"{path}\""
            )));
        };
        self.skip_ws();
        let value = self.comp_value(&path, op)?;
        Ok(Filter::Compare(path, op, value))
    }

    fn comp_value(&mut self, path: &AttrPath, op: CompareOp) -> Result<CompValue, FilterError> {
        let start = self.pos;
        if self.peek() == Some(b'"') {
            return self.string().map(CompValue::Str);
        }
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
        {
            self.pos += 1;
        }
        let word = &self.src[start..self.pos];
        let expected = || {
            FilterError::at(
                format!(
                    "expected a comparison value for \"{path} {op}\" (a double-quoted string, true, false, null or a number), found {}",
                    if word.is_empty() {
                        self.found()
                    } else {
                        format!("\"{word}\"")
                    }
                ),
                start,
            )
        };
        if word.is_empty() {
            return Err(expected());
        }
        if word.eq_ignore_ascii_case("true") {
            return Ok(CompValue::Bool(true));
        }
        if word.eq_ignore_ascii_case("false") {
            return Ok(CompValue::Bool(false));
        }
        if word.eq_ignore_ascii_case("null") {
            return Ok(CompValue::Null);
        }
        if word.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            let invalid = || FilterError::at(format!("\"{word}\" is not a valid JSON number"), start);
            // serde_json checks the JSON number grammar; its float parsing (without the
            // float_roundtrip feature) can be off by one ulp, so fractions are re-parsed by std,
            // which rounds correctly and keeps `Display` → `parse` exact.
            let n = serde_json::from_str::<serde_json::Number>(word).map_err(|_| invalid())?;
            if n.is_f64() {
                let x: f64 = word.parse().map_err(|_| invalid())?;
                return serde_json::Number::from_f64(x).map(CompValue::Num).ok_or_else(invalid);
            }
            return Ok(CompValue::Num(n));
        }
        Err(expected())
    }

    /// A JSON string literal. The end is found by skipping escaped bytes (`"` and `\` are ASCII,
    /// so they never occur inside a multi-byte UTF-8 sequence), then serde_json decodes it with
    /// exactly the JSON escape rules.
    fn string(&mut self) -> Result<String, FilterError> {
        let start = self.pos;
        let bytes = self.bytes();
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None => return Err(FilterError::at("unterminated string", start)),
                Some(b'"') => break,
                Some(b'\\') => i += 2,
                Some(_) => i += 1,
            }
        }
        let literal = &self.src[start..=i];
        let value = serde_json::from_str::<String>(literal)
            .map_err(|e| FilterError::at(format!("invalid string {literal}: {e}"), start))?;
        if value.contains('\0') {
            // No stored value holds it (request bodies refuse it), and PostgreSQL cannot
            // compare with it: a 500 there, a filter that matches nothing on SQLite.
            return Err(FilterError::at("a string must not contain U+0000", start));
        }
        self.pos = i + 1;
        Ok(value)
    }

    /// `[URI ":"] ATTRNAME ["." ATTRNAME]`. A path starting with `urn:` carries its URN up to
    /// the last `:`; URNs contain dots (`…:2.0:User`), so the sub-attribute split happens after.
    fn attr_path(&mut self) -> Result<AttrPath, FilterError> {
        let start = self.pos;
        while self.peek().is_some_and(is_path_char) {
            self.pos += 1;
        }
        let text = &self.src[start..self.pos];
        if text.is_empty() {
            return Err(self.unexpected("an attribute name"));
        }
        let (urn, rest, rest_start) = if text.len() > 4 && text[..4].eq_ignore_ascii_case("urn:") {
            match text.rfind(':') {
                Some(colon) => (Some(text[..colon].to_string()), &text[colon + 1..], start + colon + 1),
                None => (None, text, start),
            }
        } else {
            (None, text, start)
        };
        if let Some(colon) = rest.find(':') {
            return Err(FilterError::at(
                format!("unexpected \":\" in attribute path \"{text}\" (schema URNs start with \"urn:\")"),
                rest_start + colon,
            ));
        }
        let mut parts = rest.splitn(3, '.');
        let attr = parts.next().unwrap_or_default();
        let sub = parts.next();
        if parts.next().is_some() {
            return Err(FilterError::at(
                format!("attribute path \"{text}\" has more than one sub-attribute level"),
                start,
            ));
        }
        check_name(attr, text, rest_start)?;
        if let Some(sub) = sub {
            check_name(sub, text, rest_start + attr.len() + 1)?;
        }
        Ok(AttrPath {
            urn,
            attr: attr.to_string(),
            sub: sub.map(str::to_string),
        })
    }

    fn attr_name(&mut self) -> Result<String, FilterError> {
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        let name = &self.src[start..self.pos];
        check_name(name, name, start)?;
        Ok(name.to_string())
    }
}

/// `ATTRNAME = ALPHA *(nameChar)`; a leading `$` is let through so that `$ref` gets the
/// clearer "not filterable" error from resolution instead of a syntax error.
fn check_name(name: &str, path: &str, position: usize) -> Result<(), FilterError> {
    let mut chars = name.bytes();
    match chars.next() {
        None => Err(FilterError::at(
            format!("attribute path \"{path}\" has an empty name"),
            position,
        )),
        Some(first) if !(first.is_ascii_alphabetic() || first == b'$') => Err(FilterError::at(
            format!("attribute name \"{name}\" must start with a letter"),
            position,
        )),
        Some(_) => match chars.position(|b| !is_name_char(b)) {
            Some(i) => Err(FilterError::at(
                format!("attribute name \"{name}\" contains an invalid character"),
                position + i + 1,
            )),
            None => Ok(()),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

    fn p(s: &str) -> Filter {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn path(s: &str) -> AttrPath {
        AttrPath::new(s)
    }

    fn sub(a: &str, s: &str) -> AttrPath {
        AttrPath {
            urn: None,
            attr: a.into(),
            sub: Some(s.into()),
        }
    }

    fn eq(a: &str, v: &str) -> Filter {
        Filter::Compare(path(a), CompareOp::Eq, CompValue::Str(v.into()))
    }

    fn pr(a: &str) -> Filter {
        Filter::Present(path(a))
    }

    fn and(l: Filter, r: Filter) -> Filter {
        Filter::And(Box::new(l), Box::new(r))
    }

    fn or(l: Filter, r: Filter) -> Filter {
        Filter::Or(Box::new(l), Box::new(r))
    }

    fn not(f: Filter) -> Filter {
        Filter::Not(Box::new(f))
    }

    fn vp(a: &str, f: Filter) -> Filter {
        Filter::ValuePath(path(a), Box::new(f))
    }

    fn err(s: &str) -> FilterError {
        match parse(s) {
            Ok(f) => panic!("{s} parsed as {f:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn every_operator() {
        for (word, op) in [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ] {
            assert_eq!(
                p(&format!("title {word} \"x\"")),
                Filter::Compare(path("title"), op, CompValue::Str("x".into()))
            );
            let upper = word.to_ascii_uppercase();
            assert_eq!(
                p(&format!("title {upper} \"x\"")),
                Filter::Compare(path("title"), op, CompValue::Str("x".into()))
            );
        }
        assert_eq!(p("title pr"), pr("title"));
        assert_eq!(p("title PR"), pr("title"));
    }

    #[test]
    fn literals_and_case_insensitive_keywords() {
        let cmp = |v| Filter::Compare(path("x"), CompareOp::Eq, v);
        assert_eq!(p("x eq true"), cmp(CompValue::Bool(true)));
        assert_eq!(p("x eq FALSE"), cmp(CompValue::Bool(false)));
        assert_eq!(p("x eq Null"), cmp(CompValue::Null));
        assert_eq!(p("x eq 42"), cmp(CompValue::Num(42.into())));
        assert_eq!(
            p("x eq -1.5e3"),
            cmp(CompValue::Num(serde_json::Number::from_f64(-1500.0).unwrap()))
        );
        assert_eq!(
            p("a pr AND b pr Or NOT (c pr)"),
            or(and(pr("a"), pr("b")), not(pr("c")))
        );
        assert_eq!(p("not(a pr)"), not(pr("a")));
    }

    #[test]
    fn nul_in_a_string_is_refused() {
        assert!(parse(r#"x eq "a\u0000""#).is_err());
        assert!(parse("x eq \"a\0\"").is_err());
        assert!(parse_path(r#"emails[value eq "\u0000"]"#).is_err());
    }

    #[test]
    fn string_escapes() {
        assert_eq!(p(r#"x eq "a\"b\\c\u00e9\n/""#), eq("x", "a\"b\\c\u{e9}\n/"));
        assert_eq!(p(r#"x eq "\ud83d\ude00""#), eq("x", "\u{1F600}"));
        assert_eq!(p("x eq \"Zoë\""), eq("x", "Zoë"));
        assert_eq!(p(r#"x eq """#), eq("x", ""));
    }

    #[test]
    fn precedence_and_parentheses() {
        assert_eq!(p("a pr or b pr and c pr"), or(pr("a"), and(pr("b"), pr("c"))));
        assert_eq!(p("a pr and b pr or c pr"), or(and(pr("a"), pr("b")), pr("c")));
        assert_eq!(p("(a pr or b pr) and c pr"), and(or(pr("a"), pr("b")), pr("c")));
        assert_eq!(p("a pr and b pr and c pr"), and(and(pr("a"), pr("b")), pr("c")));
        assert_eq!(p("not (a pr) and b pr"), and(not(pr("a")), pr("b")));
        assert_eq!(p("not (a pr and b pr)"), not(and(pr("a"), pr("b"))));
        assert_eq!(p("  ((a pr))  "), pr("a"));
    }

    #[test]
    fn value_paths() {
        assert_eq!(
            p(r#"emails[type eq "work" and value co "@corp"]"#),
            vp(
                "emails",
                and(
                    eq("type", "work"),
                    Filter::Compare(path("value"), CompareOp::Co, CompValue::Str("@corp".into()))
                )
            )
        );
        assert_eq!(
            p(r#"emails[type eq "work" or (not (primary eq true))] and userName sw "a""#),
            and(
                vp(
                    "emails",
                    or(
                        eq("type", "work"),
                        not(Filter::Compare(path("primary"), CompareOp::Eq, CompValue::Bool(true)))
                    )
                ),
                Filter::Compare(path("userName"), CompareOp::Sw, CompValue::Str("a".into()))
            )
        );
        assert_eq!(
            p(r#"id eq "g" and members[value eq "u"]"#),
            and(eq("id", "g"), vp("members", eq("value", "u")))
        );
    }

    #[test]
    fn urn_qualified_paths() {
        let f = p(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#);
        let Filter::Compare(a, ..) = f else { panic!() };
        assert_eq!(
            (a.urn.as_deref(), a.attr.as_str(), a.sub),
            (Some(USER_SCHEMA), "userName", None)
        );
        let f = p(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m""#);
        let Filter::Compare(a, ..) = f else { panic!() };
        assert_eq!(a.urn.as_deref(), Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!((a.attr.as_str(), a.sub.as_deref()), ("manager", Some("value")));
    }

    #[test]
    fn what_okta_and_entra_send() {
        assert_eq!(
            p(r#"userName eq "bjensen@example.com""#),
            eq("userName", "bjensen@example.com")
        );
        assert_eq!(
            p(r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#),
            eq("externalId", "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")
        );
        assert_eq!(p(r#"displayName eq "Group 1""#), eq("displayName", "Group 1"));
        // Entra's matching on the work email: not RFC grammar, read as one element matching both.
        assert_eq!(
            p(r#"emails[type eq "work"].value eq "a@b.c""#),
            vp("emails", and(eq("type", "work"), eq("value", "a@b.c")))
        );
        assert_eq!(
            p(r#"emails[type eq "work"].value pr"#),
            vp("emails", and(eq("type", "work"), pr("value")))
        );
        assert_eq!(
            p(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#).to_string(),
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#
        );
        assert_eq!(
            p("name.familyName co \"O'Malley\""),
            Filter::Compare(
                sub("name", "familyName"),
                CompareOp::Co,
                CompValue::Str("O'Malley".into())
            )
        );
    }

    #[test]
    fn display_is_canonical() {
        let f = p(r#"A pr  OR  (b PR and NOT (c Eq "x\"y")) AND d[e gt 5]"#);
        assert_eq!(f.to_string(), r#"A pr or b pr and not (c eq "x\"y") and d[e gt 5]"#);
        assert_eq!(parse(&f.to_string()).unwrap(), f);
        let right_nested = and(pr("a"), or(pr("b"), pr("c")));
        assert_eq!(right_nested.to_string(), "a pr and (b pr or c pr)");
        let right_and = and(pr("a"), and(pr("b"), pr("c")));
        assert_eq!(parse(&right_and.to_string()).unwrap(), right_and);
    }

    #[test]
    fn malformed_filters_say_what_is_wrong() {
        let cases: &[(&str, &str, Option<usize>)] = &[
            ("", "empty", Some(0)),
            ("   ", "empty", Some(0)),
            ("userName eq", "expected a comparison value", Some(11)),
            ("userName eq bob", "found \"bob\"", Some(12)),
            ("userName \"x\"", "an operator", Some(9)),
            ("userName xx \"x\"", "an operator", Some(9)),
            ("userName", "a space and an operator", Some(8)),
            ("(userName pr", "expected \")\"", Some(12)),
            ("userName pr)", "expected \"and\", \"or\"", Some(11)),
            ("userName pr and", "an attribute name", Some(15)),
            ("userName pr userName pr", "expected \"and\", \"or\"", Some(12)),
            ("emails[type eq \"work\"", "expected \"]\"", Some(21)),
            ("emails[]", "empty", Some(7)),
            ("emails[type[value pr] pr]", "cannot be nested", Some(11)),
            ("emails.type[value pr]", "not the sub-attribute", Some(11)),
            ("userName eq \"abc", "unterminated string", Some(12)),
            ("userName eq \"a\\qb\"", "invalid string", Some(12)),
            ("name.a.b pr", "more than one sub-attribute", Some(0)),
            ("foo:bar pr", "unexpected \":\"", Some(3)),
            ("1abc pr", "must start with a letter", Some(0)),
            ("x eq 01", "not a valid JSON number", Some(5)),
            ("x eq 'y'", "double-quoted string", Some(5)),
            ("not userName pr", "an operator", Some(4)),
        ];
        for (input, needle, position) in cases {
            let e = err(input);
            assert!(e.message.contains(needle), "{input}: {e}");
            assert_eq!(e.position, *position, "{input}: {e}");
        }
    }

    #[test]
    fn limits() {
        let long = format!("userName eq \"{}\"", "a".repeat(MAX_FILTER_LEN));
        assert!(err(&long).message.contains("at most 4096"));
        let deep = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(parse(&deep).unwrap(), pr("a"));
        let deeper = format!("{}a pr{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert!(err(&deeper).message.contains("deeper than 32"));
        let nots = format!("{}a pr{}", "not (".repeat(40), ")".repeat(40));
        assert!(err(&nots).message.contains("deeper"));
        // Thousands of unclosed parentheses within the length limit: an error, not a stack overflow.
        assert!(parse(&"(".repeat(4000)).is_err());
        // A long flat chain is fine (no nesting) and stays within the length limit.
        let chain = vec!["a pr"; 400].join(" and ");
        assert!(parse(&chain).is_ok());
    }

    #[test]
    fn patch_paths() {
        let pp = parse_path(r#"members[value eq "2819c223"]"#).unwrap();
        assert_eq!(
            pp,
            PatchPath {
                attr: path("members"),
                filter: Some(eq("value", "2819c223")),
                sub_attr: None
            }
        );
        let pp = parse_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(
            pp,
            PatchPath {
                attr: path("emails"),
                filter: Some(eq("type", "work")),
                sub_attr: Some("value".into())
            }
        );
        assert_eq!(pp.to_string(), r#"emails[type eq "work"].value"#);
        let pp = parse_path("name.familyName").unwrap();
        assert_eq!(
            pp,
            PatchPath {
                attr: sub("name", "familyName"),
                filter: None,
                sub_attr: None
            }
        );
        let pp = parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager").unwrap();
        assert_eq!(pp.attr.urn.as_deref(), Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(pp.attr.attr, "manager");
        let pp = parse_path("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName").unwrap();
        assert_eq!(
            (pp.attr.urn.as_deref(), pp.attr.attr.as_str(), pp.attr.sub.as_deref()),
            (Some(USER_SCHEMA), "name", Some("givenName"))
        );
        assert!(parse_path("").is_err());
        assert!(parse_path("members[value eq \"x\"] extra").is_err());
        assert!(parse_path("members[value eq \"x\"").is_err());
        assert!(parse_path("emails[type eq \"work\"].").is_err());
        assert!(parse_path("name.givenName[value pr]").is_err());
    }
}
