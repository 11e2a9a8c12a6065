//! What every List action shares: keeping the objects the request's filters accept, ordering
//! them by creation, and cutting the page that MaxResults and NextToken (or Offset) ask for.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use super::{ActionError, Outcome, lower, value_error};
use crate::tencent::model::SortType;

/// Names and ranges the reference documents.
const MAX_RESULTS_DEFAULT: u64 = 10;
const MAX_RESULTS_MAX: u64 = 100;

/// The ordering and paging parameters of a List request. An action without `Offset`,
/// `SortField` or `SortType` leaves them `None`: its pages start at the first object, oldest
/// first.
#[derive(Debug, Default)]
pub(super) struct ListQuery<'a> {
    pub max_results: Option<u64>,
    pub next_token: Option<&'a str>,
    pub offset: Option<u64>,
    pub sort_field: Option<&'a str>,
    pub sort_type: Option<SortType>,
}

/// One page of a List answer; each action copies it into its own response's fields.
#[derive(Debug)]
pub(super) struct Page<T> {
    pub items: Vec<T>,
    /// Every object the filters kept, not only this page's (`TotalCounts`).
    pub total: u64,
    pub max_results: u64,
    pub next_token: Option<String>,
    pub is_truncated: bool,
}

/// Runs a List action over `source`: keeps what `keep` (the request's filters) accepts, turns
/// each kept object into its answer item and its creation sequence with `row`, orders by that
/// sequence (newest first for `SortType: Desc`) and cuts the page.
///
/// Errors come in a fixed order: SortField, then MaxResults, then NextToken; an action's own
/// checks (its zone, the object it lists under, its filter syntax) come before it calls this.
pub(super) fn list<S, T>(
    query: &ListQuery<'_>,
    source: impl IntoIterator<Item = S>,
    keep: impl FnMut(&S) -> bool,
    row: impl FnMut(S) -> (u64, T),
) -> Outcome<Page<T>> {
    if query.sort_field.is_some_and(|field| field != "CreateTime") {
        return Err(value_error("SortField only supports CreateTime"));
    }
    let mut rows: Vec<(u64, T)> = source.into_iter().filter(keep).map(row).collect();
    rows.sort_by_key(|(seq, _)| *seq);
    if query.sort_type == Some(SortType::Desc) {
        rows.reverse();
    }
    let items = rows.into_iter().map(|(_, item)| item).collect();
    paginate(items, query.max_results, query.next_token, query.offset)
}

/// The free-text `Filter` of ListUsers, ListRoleConfigurations, ListRoleAssignments and
/// ListRoleConfigurationProvisionings: a case-insensitive substring of any of the fields the
/// action searches. Absent or empty, it keeps everything.
pub(super) struct TextFilter(Option<String>);

impl TextFilter {
    pub fn new(filter: Option<&str>) -> Self {
        Self(filter.map(lower).filter(|f| !f.is_empty()))
    }

    pub fn matches<'f>(&self, fields: impl IntoIterator<Item = &'f str>) -> bool {
        self.0
            .as_ref()
            .is_none_or(|needle| fields.into_iter().any(|field| lower(field).contains(needle.as_str())))
    }
}

pub(super) fn encode_token(offset: u64) -> String {
    // Mainland examples show base64 of {"Offset":N}; clients must treat it as opaque.
    BASE64.encode(format!("{{\"Offset\":{offset}}}"))
}

pub(super) fn decode_token(token: &str) -> Outcome<u64> {
    let invalid = || ActionError::new("InvalidParameter.NextTokenInvalid", "NextToken is invalid");
    let bytes = BASE64.decode(token).map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    value.get("Offset").and_then(Value::as_u64).ok_or_else(invalid)
}

/// The page of `items` (already filtered and ordered) that the paging parameters select.
pub(super) fn paginate<T>(
    items: Vec<T>,
    max_results: Option<u64>,
    next_token: Option<&str>,
    offset: Option<u64>,
) -> Outcome<Page<T>> {
    let max_results = max_results.unwrap_or(MAX_RESULTS_DEFAULT);
    if !(1..=MAX_RESULTS_MAX).contains(&max_results) {
        return Err(value_error(format!(
            "MaxResults must be between 1 and {MAX_RESULTS_MAX}"
        )));
    }
    // NextToken wins over Offset when both are sent; an empty token is a first call.
    let start = match next_token.filter(|t| !t.is_empty()) {
        Some(token) => decode_token(token)?,
        None => offset.unwrap_or(0),
    };
    let total = items.len() as u64;
    let end = start.saturating_add(max_results).min(total);
    let is_truncated = end < total;
    let items = items
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(max_results).unwrap_or(usize::MAX))
        .collect();
    Ok(Page {
        items,
        total,
        max_results,
        next_token: is_truncated.then(|| encode_token(end)),
        is_truncated,
    })
}
