//! The audit trail: an append-only record of every change cic-bridge accepted (SCIM writes) or
//! made (Identity Center calls that change something, tasks' ends), chained by hashes so that an
//! edited or deleted row is found by [`Store::audit_verify`].
//!
//! A record is inserted in the transaction of the change it records, so neither commits
//! without the other. It is inserted without a hash: chaining at insert time would make every
//! audited write of every replica wait on one row lock (the chain's head) until it commits,
//! serialising PostgreSQL's commits. Instead [`Store::audit_seal`] (run every second by each
//! process, and before a verification) gives the unsealed rows, in the order it finds them, the
//! next positions of the chain: each row's hash covers its position, its content and the
//! previous row's hash. Sealers take the head's lock, so they take turns. A row is therefore
//! unprotected for about a second after its commit; `audit verify` reports how many are.
//!
//! Pruning ([`Store::audit_prune`]) deletes the oldest sealed rows and remembers the last
//! pruned position and its hash, which the first kept row names as its previous one, so the
//! rest of the chain stays verifiable; the prune itself is recorded.

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::ops::ts;
use super::sql::{Tx, stmt};
use super::{Store, StoreError};

/// The previous hash of the first position of a chain nothing was pruned from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Rows sealed per transaction.
const SEAL_BATCH: i64 = 1000;
/// Rows read per page when verifying.
const VERIFY_PAGE: i64 = 5000;
/// Largest page of a query.
pub const MAX_QUERY_LIMIT: i64 = 10_000;

/// Who made a change the store records: the IdP behind a SCIM request, an operator, or
/// cic-bridge itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `token` (the tenant's bearer token), `jwt <issuer> <subject>`, `admin`, `engine`.
    pub actor: String,
    /// The request's `X-Request-Id`, when a request caused it.
    pub request_id: Option<String>,
}

impl Origin {
    pub fn new(actor: impl Into<String>, request_id: Option<String>) -> Origin {
        Origin {
            actor: actor.into(),
            request_id,
        }
    }

    /// For writes no request caused (tests, tools): the actor only.
    pub fn system(actor: &str) -> Origin {
        Origin::new(actor, None)
    }
}

tokio::task_local! {
    /// Who acts in this task: set around an operator's request (the admin API's middleware, a
    /// CLI command, a reload), so that the store functions that act for an operator (retries,
    /// releases, queued deployments, reconciliation fixes, organization refreshes) record who
    /// did it, in their own transaction, without every caller passing it down.
    static ACTING: Origin;
}

/// Runs `f` with `origin` as the one acting (see [`acting_origin`]).
pub async fn acting<F: std::future::Future>(origin: Origin, f: F) -> F::Output {
    ACTING.scope(origin, f).await
}

/// Who acts in this task, if an operator does (see [`acting`]).
pub fn acting_origin() -> Option<Origin> {
    ACTING.try_with(Origin::clone).ok()
}

/// The record of an operator's action, when one is acting in this task.
pub(super) fn operator_entry(tenant: Option<&str>, action: &str, detail: Value) -> Option<AuditEntry> {
    let origin = acting_origin()?;
    Some(AuditEntry::new(tenant.unwrap_or("*"), Source::Admin, &origin, action).detail(detail))
}

/// Where a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A SCIM write that cic-bridge accepted.
    Scim,
    /// An Identity Center call that changes something, or a task's end.
    Cic,
    /// An operator's action through the admin API or the CLI.
    Admin,
    /// The trail's own maintenance (a prune).
    Audit,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Scim => "scim",
            Source::Cic => "cic",
            Source::Admin => "admin",
            Source::Audit => "audit",
        }
    }
}

/// One change to record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub tenant: String,
    pub source: Source,
    pub actor: String,
    pub request_id: Option<String>,
    /// What happened: `user.create`, `group.member.add`, `CreateRoleAssignment`, `task.end`, …
    pub action: String,
    /// The SCIM user and group concerned, and the account (member UIN), when there are.
    pub user_id: Option<String>,
    pub group_id: Option<String>,
    pub account: Option<u64>,
    /// The rest (attribute names changed, RequestId, error code, task, cause); never a value
    /// of a secret.
    pub detail: Value,
}

impl AuditEntry {
    pub fn new(tenant: &str, source: Source, origin: &Origin, action: impl Into<String>) -> AuditEntry {
        AuditEntry {
            tenant: tenant.to_owned(),
            source,
            actor: origin.actor.clone(),
            request_id: origin.request_id.clone(),
            action: action.into(),
            user_id: None,
            group_id: None,
            account: None,
            detail: Value::Object(Default::default()),
        }
    }

    pub fn user(mut self, id: &str) -> Self {
        self.user_id = Some(id.to_owned());
        self
    }

    pub fn group(mut self, id: &str) -> Self {
        self.group_id = Some(id.to_owned());
        self
    }

    pub fn account(mut self, uin: Option<u64>) -> Self {
        self.account = uin;
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: String,
    pub tenant: String,
    pub source: String,
    pub actor: String,
    pub request_id: Option<String>,
    pub action: String,
    pub user_id: Option<String>,
    pub group_id: Option<String>,
    pub account: Option<i64>,
    /// JSON text, hashed as stored.
    pub detail: String,
    pub pos: Option<i64>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

const COLUMNS: &str =
    "seq, at, tenant, source, actor, request_id, action, user_id, group_id, account, detail, pos, prev_hash, hash";

impl AuditRecord {
    /// The record as the admin API and `--jsonl` give it.
    pub fn to_json(&self) -> Value {
        let detail = serde_json::from_str::<Value>(&self.detail).unwrap_or_else(|_| Value::String(self.detail.clone()));
        json!({
            "seq": self.seq,
            "at": self.at,
            "tenant": self.tenant,
            "source": self.source,
            "actor": self.actor,
            "requestId": self.request_id,
            "action": self.action,
            "user": self.user_id,
            "group": self.group_id,
            "account": self.account,
            "detail": detail,
            "position": self.pos,
            "hash": self.hash,
        })
    }

    /// The row's hash at position `pos` after `prev`: SHA-256 over the previous hash and the
    /// row's content with its position, as a JSON array (one unambiguous encoding).
    pub fn chain_hash(&self, prev: &str, pos: i64) -> String {
        let content = json!([
            pos,
            self.seq,
            self.at,
            self.tenant,
            self.source,
            self.actor,
            self.request_id,
            self.action,
            self.user_id,
            self.group_id,
            self.account,
            self.detail
        ]);
        let mut h = Sha256::new();
        h.update(prev.as_bytes());
        h.update(b"\n");
        h.update(content.to_string().as_bytes());
        hex::encode(h.finalize())
    }
}

/// The record that queued the operation a record's call belongs to (`detail.cause.queuedBy`).
fn queued_by(r: &AuditRecord) -> Option<i64> {
    serde_json::from_str::<Value>(&r.detail).ok()?["cause"]["queuedBy"].as_i64()
}

/// What to list; every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub tenant: Option<String>,
    /// A SCIM user id: its own records and those of every group it was ever recorded a member of.
    pub user: Option<String>,
    pub group: Option<String>,
    pub account: Option<u64>,
    pub action: Option<String>,
    /// RFC 3339, inclusive.
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    pub until: Option<String>,
    /// Records after this sequence number (paging).
    pub after: Option<i64>,
    pub limit: i64,
}

/// An audit query as people ask it: a user or group by name or id.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub tenant: Option<String>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub account: Option<u64>,
    pub action: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub after: Option<i64>,
    pub limit: i64,
}

/// Resolves the names of `n` and queries; a name nothing knows matches nothing.
pub async fn query_by_names(store: &Store, n: Names) -> Result<Vec<AuditRecord>, StoreError> {
    use crate::scim::schema::ResourceKind;
    let mut q = AuditQuery {
        tenant: n.tenant.clone(),
        account: n.account,
        action: n.action,
        since: n.since,
        until: n.until,
        after: n.after,
        limit: n.limit,
        ..Default::default()
    };
    if let Some(u) = &n.user {
        match store.audit_resolve(ResourceKind::User, n.tenant.as_deref(), u).await? {
            Some(id) => q.user = Some(id),
            None => return Ok(Vec::new()),
        }
    }
    if let Some(g) = &n.group {
        match store.audit_resolve(ResourceKind::Group, n.tenant.as_deref(), g).await? {
            Some(id) => q.group = Some(id),
            None => return Ok(Vec::new()),
        }
    }
    store.audit_query(&q).await
}

/// A time bound as the trail stores times (RFC 3339 UTC with microseconds), from RFC 3339 or
/// a date (midnight UTC).
pub fn parse_bound(v: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Some(ts(t));
    }
    let date = time::Date::parse(v, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(ts(date.midnight().assume_utc()))
}

/// The outcome of [`Store::audit_verify`] (camelCase in the admin API).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// Sealed rows whose hash was recomputed.
    pub checked: u64,
    /// The first position kept (after the last pruned one).
    pub first_position: i64,
    /// The chain's head: last sealed position and its hash (keep it elsewhere to anchor the
    /// trail: a verification against it also finds a rewritten tail).
    pub head_position: i64,
    pub head_hash: String,
    /// Rows committed but not sealed yet (not covered by this verification).
    pub unsealed: i64,
    /// The first break found, naming the row; `None` when the chain holds.
    pub problem: Option<String>,
}

/// Records `entries` in the caller's transaction.
/// The last one becomes the cause of the operations the transaction queues from then on.
pub(super) async fn record(tx: &mut Tx<'_>, entries: &[AuditEntry], now: &str) -> Result<(), StoreError> {
    for e in entries {
        let seq: i64 = stmt(
            "INSERT INTO audit_log (at, tenant, source, actor, request_id, action, user_id, group_id, account, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
        )
        .bind(now)
        .bind(&e.tenant)
        .bind(e.source.as_str())
        .bind(&e.actor)
        .bind(&e.request_id)
        .bind(e.action.as_str())
        .bind(&e.user_id)
        .bind(&e.group_id)
        .bind(e.account.map(|a| i64::try_from(a).unwrap_or(i64::MAX)))
        .bind(serde_json::to_string(&e.detail)?)
        .scalar(tx.on())
        .await?;
        tx.set_cause(seq);
    }
    Ok(())
}

/// Records one `entry` per user id (a membership change of many members), in one statement.
pub(super) async fn record_each_user(
    tx: &mut Tx<'_>,
    entry: &AuditEntry,
    user_ids: &[String],
    now: &str,
) -> Result<(), StoreError> {
    if user_ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO audit_log (at, tenant, source, actor, request_id, action, user_id, group_id, account, detail) \
         SELECT $1, $2, $3, $4, $5, $6, j.value, $7, $8, $9 FROM {} j",
        tx.dialect().list_rows(10)
    );
    stmt(sql)
        .bind(now)
        .bind(&entry.tenant)
        .bind(entry.source.as_str())
        .bind(&entry.actor)
        .bind(&entry.request_id)
        .bind(entry.action.as_str())
        .bind(&entry.group_id)
        .bind(entry.account.map(|a| i64::try_from(a).unwrap_or(i64::MAX)))
        .bind(serde_json::to_string(&entry.detail)?)
        .bind(user_ids)
        .execute(tx.on())
        .await?;
    Ok(())
}

impl Store {
    /// Records `entries` in a transaction of their own (changes that have no other write).
    pub async fn audit_record(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let r: Result<(), StoreError> = async {
            let now = self.now_s();
            let mut tx = self.begin().await?;
            record(&mut tx, entries, &now).await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        self.observe(r, true)
    }

    /// Gives every unsealed row its place in the chain; returns how many were sealed.
    pub async fn audit_seal(&self) -> Result<u64, StoreError> {
        let mut sealed = 0u64;
        loop {
            let r: Result<u64, StoreError> = async {
                let mut tx = self.begin().await?;
                let d = tx.dialect();
                let (mut pos, mut prev): (i64, String) = stmt(format!(
                    "SELECT pos, hash FROM audit_chain WHERE id = 1{}",
                    d.for_update()
                ))
                .fetch_optional(tx.on())
                .await?
                .ok_or_else(|| StoreError::Invalid("the audit chain's head row is missing".into()))?;
                let rows: Vec<AuditRecord> = stmt(format!(
                    "SELECT {COLUMNS} FROM audit_log WHERE pos IS NULL ORDER BY seq LIMIT {SEAL_BATCH}"
                ))
                .fetch_all(tx.on())
                .await?;
                if rows.is_empty() {
                    return Ok(0);
                }
                for r in &rows {
                    pos += 1;
                    let hash = r.chain_hash(&prev, pos);
                    stmt("UPDATE audit_log SET pos = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
                        .bind(pos)
                        .bind(&prev)
                        .bind(&hash)
                        .bind(r.seq)
                        .execute(tx.on())
                        .await?;
                    prev = hash;
                }
                stmt("UPDATE audit_chain SET pos = $1, hash = $2 WHERE id = 1")
                    .bind(pos)
                    .bind(&prev)
                    .execute(tx.on())
                    .await?;
                tx.commit().await?;
                Ok(rows.len() as u64)
            }
            .await;
            match self.observe(r, true)? {
                0 => return Ok(sealed),
                n => sealed += n,
            }
        }
    }

    /// Walks the chain from its first kept position to its head, recomputing every hash.
    pub async fn audit_verify(&self) -> Result<Verification, StoreError> {
        let (head_pos, head_hash, pruned_pos, pruned_hash): (i64, String, i64, String) =
            stmt("SELECT pos, hash, pruned_pos, pruned_hash FROM audit_chain WHERE id = 1")
                .fetch_optional(self.read())
                .await?
                .ok_or_else(|| StoreError::Invalid("the audit chain's head row is missing".into()))?;
        let unsealed: i64 = stmt("SELECT count(*) FROM audit_log WHERE pos IS NULL")
            .scalar(self.read())
            .await?;
        let mut v = Verification {
            checked: 0,
            first_position: pruned_pos + 1,
            head_position: head_pos,
            head_hash: head_hash.clone(),
            unsealed,
            problem: None,
        };
        let mut expected_pos = pruned_pos + 1;
        let mut prev = pruned_hash;
        loop {
            let rows: Vec<AuditRecord> = stmt(format!(
                "SELECT {COLUMNS} FROM audit_log WHERE pos >= $1 AND pos <= $2 ORDER BY pos LIMIT {VERIFY_PAGE}"
            ))
            .bind(expected_pos)
            // Up to the head read above: what a sealer adds meanwhile is the next verification's.
            .bind(head_pos)
            .fetch_all(self.read())
            .await?;
            let Some(last) = rows.last().and_then(|r| r.pos) else {
                break;
            };
            for r in &rows {
                let pos = r.pos.unwrap_or_default();
                if pos != expected_pos {
                    v.problem = Some(format!(
                        "position {expected_pos} is missing (deleted?): the next row, seq {}, is at position {pos}",
                        r.seq
                    ));
                    return Ok(v);
                }
                if r.prev_hash.as_deref() != Some(prev.as_str()) {
                    v.problem = Some(format!(
                        "row seq {} (position {pos}) names previous hash {} but the row before it hashes to {prev} \
                         (a row before it was replaced, or this row's chain columns were edited)",
                        r.seq,
                        r.prev_hash.as_deref().unwrap_or("(none)")
                    ));
                    return Ok(v);
                }
                let hash = r.chain_hash(&prev, pos);
                if r.hash.as_deref() != Some(hash.as_str()) {
                    v.problem = Some(format!(
                        "row seq {} (position {pos}, {} {} at {}) does not match its hash: it was edited",
                        r.seq, r.source, r.action, r.at
                    ));
                    return Ok(v);
                }
                v.checked += 1;
                prev = hash;
                expected_pos += 1;
            }
            if last >= head_pos {
                break;
            }
        }
        if expected_pos - 1 < head_pos {
            v.problem = Some(format!(
                "positions {expected_pos} to {head_pos} are missing (the newest rows were deleted)"
            ));
        } else if expected_pos - 1 > head_pos || prev != head_hash {
            v.problem = Some(format!(
                "the chain ends at position {} with hash {prev}, but its head records position {head_pos} with hash \
                 {head_hash} (rows were added or the head was edited)",
                expected_pos - 1
            ));
        }
        Ok(v)
    }

    /// Deletes the sealed rows recorded before `before` (up to the first row recorded at or
    /// after it) and records the prune; returns the last pruned position, if any were.
    pub async fn audit_prune(&self, before: OffsetDateTime) -> Result<Option<i64>, StoreError> {
        let r: Result<Option<i64>, StoreError> = async {
            let now = self.now_s();
            let cutoff = ts(before);
            let mut tx = self.begin().await?;
            let d = tx.dialect();
            let (head, pruned): (i64, i64) = stmt(format!(
                "SELECT pos, pruned_pos FROM audit_chain WHERE id = 1{}",
                d.for_update()
            ))
            .fetch_optional(tx.on())
            .await?
            .ok_or_else(|| StoreError::Invalid("the audit chain's head row is missing".into()))?;
            let first_kept: Option<i64> = stmt("SELECT min(pos) FROM audit_log WHERE pos IS NOT NULL AND at >= $1")
                .bind(&cutoff)
                .scalar(tx.on())
                .await?;
            let through = first_kept.map_or(head, |p| p - 1);
            if through <= pruned {
                return Ok(None);
            }
            let hash: String = stmt("SELECT hash FROM audit_log WHERE pos = $1")
                .bind(through)
                .scalar_optional(tx.on())
                .await?
                .ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "audit position {through} is missing; run `cic-bridge audit verify`"
                    ))
                })?;
            let deleted = stmt("DELETE FROM audit_log WHERE pos IS NOT NULL AND pos <= $1")
                .bind(through)
                .execute(tx.on())
                .await?;
            stmt("UPDATE audit_chain SET pruned_pos = $1, pruned_hash = $2 WHERE id = 1")
                .bind(through)
                .bind(&hash)
                .execute(tx.on())
                .await?;
            let entry =
                AuditEntry::new("*", Source::Audit, &Origin::system("cic-bridge"), "audit.prune").detail(json!({
                    "before": cutoff,
                    "throughPosition": through,
                    "throughHash": hash,
                    "rows": deleted,
                }));
            record(&mut tx, &[entry], &now).await?;
            tx.commit().await?;
            Ok(Some(through))
        }
        .await;
        self.observe(r, true)
    }

    /// The SCIM id of a user (or group) named `name` (userName or displayName, any case), or
    /// `name` itself when it is an id: a current resource first, else the name a record of the
    /// trail gives it (a user deleted since). `None` when nothing matches.
    pub async fn audit_resolve(
        &self,
        kind: crate::scim::schema::ResourceKind,
        tenant: Option<&str>,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        use crate::scim::schema::ResourceKind;
        let (table, column, prefix, id_column) = match kind {
            ResourceKind::User => ("scim_users", "user_name_lower", "user.", "user_id"),
            ResourceKind::Group => ("scim_groups", "display_name_lower", "group.", "group_id"),
        };
        let r: Result<Option<String>, StoreError> = async {
            let current: Option<String> = stmt(format!(
                "SELECT id FROM {table} WHERE (id = $1 OR {column} = $2) AND ($3 IS NULL OR tenant = $3) ORDER BY id LIMIT 1"
            ))
            .bind(name)
            .bind(name.to_lowercase())
            .bind(tenant)
            .scalar_optional(self.read())
            .await?;
            if current.is_some() {
                return Ok(current);
            }
            // The trail writes detail as compact JSON, so the name appears as `"name":<JSON string>`.
            let needle = format!("%\"name\":{}%", Value::String(name.to_owned()));
            let recorded: Option<String> = stmt(format!(
                "SELECT {id_column} FROM audit_log WHERE ({id_column} = $1 OR (action LIKE $2 AND detail LIKE $3)) \
                 AND {id_column} IS NOT NULL AND ($4 IS NULL OR tenant = $4) ORDER BY seq DESC LIMIT 1"
            ))
            .bind(name)
            .bind(format!("{prefix}%"))
            .bind(needle)
            .bind(tenant)
            .scalar_optional(self.read())
            .await?;
            Ok(recorded)
        }
        .await;
        self.observe(r, false)
    }

    /// The latest record of `user` being added to `group`.
    pub async fn audit_membership(
        &self,
        tenant: &str,
        group: &str,
        user: &str,
    ) -> Result<Option<AuditRecord>, StoreError> {
        let r = stmt(format!(
            "SELECT {COLUMNS} FROM audit_log WHERE tenant = $1 AND group_id = $2 AND user_id = $3 \
             AND action = 'group.member.add' ORDER BY seq DESC LIMIT 1"
        ))
        .bind(tenant)
        .bind(group)
        .bind(user)
        .fetch_optional(self.read())
        .await;
        self.observe(r, false)
    }

    /// One record by its seq.
    pub async fn audit_get(&self, seq: i64) -> Result<Option<AuditRecord>, StoreError> {
        let r = stmt(format!("SELECT {COLUMNS} FROM audit_log WHERE seq = $1"))
            .bind(seq)
            .fetch_optional(self.read())
            .await;
        self.observe(r, false)
    }

    /// The latest successful call that assigned (`CreateRoleAssignment`) `rc` on `uin` to the
    /// group, and the end of its task, if recorded.
    pub async fn audit_assignment(
        &self,
        tenant: &str,
        group: &str,
        rc: &str,
        uin: u64,
    ) -> Result<Option<(AuditRecord, Option<AuditRecord>)>, StoreError> {
        let r: Result<_, StoreError> = async {
            let uin = i64::try_from(uin).unwrap_or(i64::MAX);
            let calls: Vec<AuditRecord> = stmt(format!(
                "SELECT {COLUMNS} FROM audit_log WHERE tenant = $1 AND group_id = $2 AND account = $3 \
                 AND action = 'CreateRoleAssignment' ORDER BY seq DESC LIMIT 50"
            ))
            .bind(tenant)
            .bind(group)
            .bind(uin)
            .fetch_all(self.read())
            .await?;
            let wanted = |r: &AuditRecord| {
                let d: Value = serde_json::from_str(&r.detail).unwrap_or(Value::Null);
                d["outcome"] == "ok" && d["target"]["RoleConfigurationId"] == rc
            };
            let Some(call) = calls.into_iter().find(wanted) else {
                return Ok(None);
            };
            let task = serde_json::from_str::<Value>(&call.detail).unwrap_or(Value::Null)["taskId"]
                .as_str()
                .map(str::to_owned);
            let end = match task {
                Some(task) => {
                    let ends: Vec<AuditRecord> = stmt(format!(
                        "SELECT {COLUMNS} FROM audit_log WHERE tenant = $1 AND account = $2 AND action = 'task.end' \
                         AND seq > $3 ORDER BY seq LIMIT 200"
                    ))
                    .bind(tenant)
                    .bind(uin)
                    .bind(call.seq)
                    .fetch_all(self.read())
                    .await?;
                    ends.into_iter().find(|e| {
                        serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null)["taskId"] == task.as_str()
                    })
                }
                None => None,
            };
            Ok(Some((call, end)))
        }
        .await;
        self.observe(r, false)
    }

    /// The chain of causes of a record: the record that queued its operation, the one that
    /// queued that one's, … (at most `depth`), newest first.
    pub async fn audit_causes(&self, record: &AuditRecord, depth: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let mut out = Vec::new();
        let mut next = queued_by(record);
        while let Some(seq) = next {
            if out.len() >= depth {
                break;
            }
            let Some(r) = self.audit_get(seq).await? else { break };
            next = queued_by(&r);
            out.push(r);
        }
        Ok(out)
    }

    /// Records matching `q`, oldest first.
    pub async fn audit_query(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let mut conds: Vec<String> = Vec::new();
        let mut args: Vec<super::sql::Arg<'_>> = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if let Some(t) = &q.tenant {
            conds.push(format!("a.tenant = ${}", next()));
            args.push(t.clone().into());
        }
        if let Some(u) = &q.user {
            let i = next();
            conds.push(format!(
                "(a.user_id = ${i} OR a.group_id IN (SELECT m.group_id FROM audit_log m WHERE m.user_id = ${i} AND m.group_id IS NOT NULL))"
            ));
            args.push(u.clone().into());
        }
        if let Some(g) = &q.group {
            conds.push(format!("a.group_id = ${}", next()));
            args.push(g.clone().into());
        }
        if let Some(a) = q.account {
            conds.push(format!("a.account = ${}", next()));
            args.push(i64::try_from(a).unwrap_or(i64::MAX).into());
        }
        if let Some(a) = &q.action {
            conds.push(format!("a.action = ${}", next()));
            args.push(a.clone().into());
        }
        if let Some(t) = &q.since {
            conds.push(format!("a.at >= ${}", next()));
            args.push(t.clone().into());
        }
        if let Some(t) = &q.until {
            conds.push(format!("a.at < ${}", next()));
            args.push(t.clone().into());
        }
        if let Some(a) = q.after {
            conds.push(format!("a.seq > ${}", next()));
            args.push(a.into());
        }
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("a.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let limit = q.limit.clamp(1, MAX_QUERY_LIMIT);
        let sql = format!("SELECT {columns} FROM audit_log a{filter} ORDER BY a.seq LIMIT {limit}");
        let s = stmt(sql).bind_all(args);
        let r = s.fetch_all(self.read()).await;
        self.observe(r, false)
    }
}
