//! SCIM resources and memberships, written once for both databases (see `sql.rs`). Writes run
//! in one transaction that also queues the Identity Center operations they imply (the outbox).
//! Creates are per backend only in how they are committed: SQLite commits the creates waiting
//! together (group commit, `sqlite.rs`), PostgreSQL each in its own transaction.

use serde_json::{Map, Value};

use super::audit::{self, AuditEntry, Origin, Source};
use super::sql::{Arg, Dialect, Tx, stmt};
use super::writes::{enqueue, enqueue_members, enqueue_with, link_exists_in};
use super::{Columns, IfMatch, Link, ListQuery, OpKind, PatchError, Replacement, Row, Store, StoreError};
use crate::scim::filter::{self, SqlParam};
use crate::scim::patch::{MemberEdit, PatchOutcome};
use crate::scim::schema::{self, ResourceKind};

/// A stored resource as read (`row_columns`), before its JSON is parsed.
#[derive(sqlx::FromRow)]
struct RowRecord {
    id: String,
    doc: String,
    version: i64,
    created: String,
    last_modified: String,
    links: Option<String>,
}

/// A user's groups as a JSON array of `[id, displayName]`, ordered by group id, computed in
/// the row's own statement (alias `r`); `[]` for a user in no group.
fn user_groups_col(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => {
            "(SELECT json_group_array(json_array(x.group_id, x.display_name)) FROM \
             (SELECT m.group_id, g.display_name FROM scim_group_members m JOIN scim_groups g ON g.tenant = m.tenant AND g.id = m.group_id \
              WHERE m.tenant = r.tenant AND m.member_id = r.id ORDER BY m.group_id) x)"
        }
        Dialect::Postgres => {
            "(SELECT coalesce(json_agg(json_build_array(m.group_id, g.display_name) ORDER BY m.group_id), '[]'::json)::text \
             FROM scim_group_members m JOIN scim_groups g ON g.tenant = m.tenant AND g.id = m.group_id \
             WHERE m.tenant = r.tenant AND m.member_id = r.id)"
        }
    }
}

/// The selected columns of a row (alias `r`), with the user's groups when asked for.
fn row_columns(d: Dialect, kind: ResourceKind, with_links: bool) -> String {
    let links = match kind {
        ResourceKind::User if with_links => user_groups_col(d),
        _ => d.null_text(),
    };
    format!(
        "r.id, {} AS doc, r.version, r.created, r.last_modified, {links} AS links",
        d.json_text("r.doc")
    )
}

fn table(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "scim_users",
        ResourceKind::Group => "scim_groups",
    }
}

fn to_row(t: RowRecord) -> Result<Row, StoreError> {
    let doc: Map<String, Value> = serde_json::from_str(&t.doc)?;
    let links = match t.links {
        Some(text) => {
            let pairs: Vec<(String, Option<String>)> = serde_json::from_str(&text)?;
            Some(
                pairs
                    .into_iter()
                    .map(|(id, display)| Link {
                        id,
                        display: display.unwrap_or_default(),
                    })
                    .collect(),
            )
        }
        None => None,
    };
    Ok(Row {
        id: t.id,
        doc,
        version: t.version,
        created: t.created,
        last_modified: t.last_modified,
        links,
    })
}

fn param(p: &SqlParam) -> Arg<'_> {
    match p {
        SqlParam::Text(s) => Arg::from(s.as_str()),
        SqlParam::Int(i) => Arg::Int(*i),
        SqlParam::Real(f) => Arg::Real(*f),
        SqlParam::Bool(b) => Arg::Bool(*b),
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn conflict_detail(kind: ResourceKind, doc: &Map<String, Value>) -> String {
    match kind {
        ResourceKind::User => format!(
            "a user with userName \"{}\" already exists (userName is unique, case-insensitively)",
            doc.get("userName").and_then(Value::as_str).unwrap_or_default()
        ),
        ResourceKind::Group => format!(
            "a group with displayName \"{}\" already exists (displayName is unique, case-insensitively)",
            doc.get("displayName").and_then(Value::as_str).unwrap_or_default()
        ),
    }
}

impl Store {
    pub async fn get(&self, kind: ResourceKind, tenant: &str, id: &str) -> Result<Option<Row>, StoreError> {
        let r: Result<_, StoreError> = async {
            let sql = format!(
                "SELECT {} FROM {} r WHERE r.tenant = $1 AND r.id = $2",
                row_columns(self.dialect(), kind, true),
                table(kind)
            );
            let row: Option<RowRecord> = stmt(sql).bind(tenant).bind(id).fetch_optional(self.read()).await?;
            row.map(to_row).transpose()
        }
        .await;
        self.observe(r, false)
    }

    pub async fn list(
        &self,
        kind: ResourceKind,
        tenant: &str,
        q: &ListQuery<'_>,
    ) -> Result<(i64, Vec<Row>), StoreError> {
        let r = self.list_page(kind, tenant, q).await;
        self.observe(r, false)
    }

    async fn list_page(
        &self,
        kind: ResourceKind,
        tenant: &str,
        q: &ListQuery<'_>,
    ) -> Result<(i64, Vec<Row>), StoreError> {
        let d = self.dialect();
        let (where_sql, params) = match q.filter {
            Some(f) => {
                let s = filter::to_sql(f, kind, d, 2).map_err(|e| StoreError::InvalidFilter(e.to_string()))?;
                (format!(" AND ({})", s.sql), s.params)
            }
            None => (String::new(), Vec::new()),
        };
        let order = match q.sort_by {
            Some(p) => {
                let expr =
                    filter::sort_expr(p, kind, d).map_err(|e| StoreError::InvalidValue(format!("sortBy: {e}")))?;
                // RFC 7644 §3.4.2.3: resources without a value sort last ascending, first descending.
                if q.descending {
                    format!("{expr} DESC NULLS FIRST, r.id DESC")
                } else {
                    format!("{expr} ASC NULLS LAST, r.id ASC")
                }
            }
            None => "r.id".to_string(),
        };
        let count = || {
            stmt(format!(
                "SELECT count(*) FROM {} r WHERE r.tenant = $1{where_sql}",
                table(kind)
            ))
            .bind(tenant)
            .bind_all(params.iter().map(param))
        };
        if q.limit <= 0 {
            return Ok((count().scalar::<i64>(self.read()).await?, Vec::new()));
        }
        let n = params.len() + 2;
        let page_sql = format!(
            "SELECT {} FROM {} r WHERE r.tenant = $1{where_sql} ORDER BY {order} LIMIT ${} OFFSET ${}",
            row_columns(d, kind, q.with_links),
            table(kind),
            n,
            n + 1
        );
        let rows: Vec<RowRecord> = stmt(page_sql)
            .bind(tenant)
            .bind_all(params.iter().map(param))
            .bind(q.limit)
            .bind(q.offset)
            .fetch_all(self.read())
            .await?;
        // The common lookup (`userName eq "…"`) fits on the first page: its length is the total,
        // which saves the COUNT query on the hot path.
        let total = if q.offset == 0 && (rows.len() as i64) < q.limit {
            rows.len() as i64
        } else {
            count().scalar::<i64>(self.read()).await?
        };
        let rows = rows.into_iter().map(to_row).collect::<Result<Vec<_>, _>>()?;
        Ok((total, rows))
    }

    /// Members of each group (`kind = Group`) or groups of each user (`kind = User`).
    pub async fn links(
        &self,
        kind: ResourceKind,
        tenant: &str,
        ids: &[&str],
    ) -> Result<Vec<(String, Link)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let d = self.dialect();
        let sql = match kind {
            ResourceKind::Group => format!(
                "SELECT m.group_id, m.member_id, coalesce(u.display_name, u.user_name) FROM scim_group_members m \
                 JOIN scim_users u ON u.tenant = m.tenant AND u.id = m.member_id \
                 WHERE m.tenant = $1 AND {} ORDER BY m.group_id, m.member_id",
                d.in_list("m.group_id", 2)
            ),
            ResourceKind::User => format!(
                "SELECT m.member_id, m.group_id, g.display_name FROM scim_group_members m \
                 JOIN scim_groups g ON g.tenant = m.tenant AND g.id = m.group_id \
                 WHERE m.tenant = $1 AND {} ORDER BY m.member_id, m.group_id",
                d.in_list("m.member_id", 2)
            ),
        };
        let r: Result<Vec<(String, String, String)>, _> = stmt(sql).bind(tenant).bind(ids).fetch_all(self.read()).await;
        let r = r.map(|rows| {
            rows.into_iter()
                .map(|(owner, id, display)| (owner, Link { id, display }))
                .collect()
        });
        self.observe(r, false)
    }

    pub async fn create(
        &self,
        kind: ResourceKind,
        tenant: &str,
        doc: Map<String, Value>,
        members: Option<Vec<String>>,
        origin: &Origin,
    ) -> Result<(Row, i64), StoreError> {
        let r = match self {
            Store::Sqlite(s) => s.create(kind, tenant, doc, members, origin).await,
            Store::Postgres(_) => {
                async {
                    let now = self.now_s();
                    let mut tx = self.begin().await?;
                    let created = create_in(&mut tx, kind, tenant, doc, members, origin, &now).await?;
                    tx.commit().await?;
                    Ok(created)
                }
                .await
            }
        };
        self.observe_scim_write(r)
    }

    pub async fn replace(
        &self,
        kind: ResourceKind,
        tenant: &str,
        id: &str,
        if_match: Option<&IfMatch>,
        new: Replacement,
        origin: &Origin,
    ) -> Result<Row, StoreError> {
        let r: Result<_, StoreError> = async {
            let now = self.now_s();
            let mut tx = self.begin().await?;
            let current = load_for_update(&mut tx, kind, tenant, id).await?;
            check_precondition(if_match, current.version)?;
            let edits: Vec<MemberEdit> = new.members.map(MemberEdit::Replace).into_iter().collect();
            let changed = record_and_apply(
                &mut tx,
                kind,
                tenant,
                id,
                ("replace", origin),
                &current.doc,
                &new.doc,
                &edits,
                &now,
            )
            .await?;
            let row = write_back(&mut tx, kind, tenant, current, new.doc, changed, &now).await?;
            tx.commit().await?;
            Ok(row)
        }
        .await;
        self.observe_scim_write(r)
    }

    /// Reads the resource inside the write transaction, lets `f` compute the change, and
    /// writes it, so concurrent PATCHes of one resource never lose each other's updates.
    /// With `read_link`, `f` also learns whether the resource is linked to Identity Center,
    /// read in that transaction (a check made before it could be overtaken by the engine
    /// saving a link); otherwise it is told `false`. When `f` refuses the change, nothing is
    /// written and its error comes back as [`PatchError::Rejected`].
    #[allow(clippy::too_many_arguments)] // the resource, its precondition, the audit origin and the change
    pub async fn patch<F, E>(
        &self,
        kind: ResourceKind,
        tenant: &str,
        id: &str,
        if_match: Option<&IfMatch>,
        read_link: bool,
        origin: (&Origin, &'static str),
        f: F,
    ) -> Result<Row, PatchError<E>>
    where
        F: FnOnce(&Row, bool) -> Result<PatchOutcome, E> + Send,
        E: Send,
    {
        // The inner `Err` is the caller's refusal: the transaction is dropped (rolled back).
        let r: Result<Result<Row, E>, StoreError> = async {
            let now = self.now_s();
            let mut tx = self.begin().await?;
            let current = load_for_update(&mut tx, kind, tenant, id).await?;
            check_precondition(if_match, current.version)?;
            let linked = read_link && link_exists_in(&mut tx, tenant, kind, id).await?;
            let outcome = match f(&current, linked) {
                Ok(outcome) => outcome,
                Err(rejected) => return Ok(Err(rejected)),
            };
            let (origin, verb) = origin;
            let changed = record_and_apply(
                &mut tx,
                kind,
                tenant,
                id,
                (verb, origin),
                &current.doc,
                &outcome.doc,
                &outcome.member_edits,
                &now,
            )
            .await?;
            let row = write_back(&mut tx, kind, tenant, current, outcome.doc, changed, &now).await?;
            tx.commit().await?;
            Ok(Ok(row))
        }
        .await;
        match r {
            // Nothing was written: a refusal tells nothing about whether the store commits.
            Ok(Err(rejected)) => Err(PatchError::Rejected(rejected)),
            Ok(Ok(row)) => self.observe_scim_write(Ok(row)).map_err(PatchError::Store),
            Err(e) => self.observe_scim_write(Err(e)).map_err(PatchError::Store),
        }
    }

    pub async fn delete(
        &self,
        kind: ResourceKind,
        tenant: &str,
        id: &str,
        if_match: Option<&IfMatch>,
        origin: &Origin,
    ) -> Result<(), StoreError> {
        let r: Result<_, StoreError> = async {
            let now = self.now_s();
            let mut tx = self.begin().await?;
            let current = load_for_update(&mut tx, kind, tenant, id).await?;
            check_precondition(if_match, current.version)?;
            // The outbox keeps the name: the row is gone once the engine runs.
            let cols = Columns::of(kind, &current.doc);
            let payload = serde_json::json!({ "name": cols.name });
            // A queued sync of the resource has nothing left to do.
            stmt(format!(
                "UPDATE operations SET state = 'done', result = 'superseded by the delete', finished_at = $3, updated_at = $3 \
                 WHERE tenant = $1 AND resource_key = $2 AND {} = 'pending' AND kind = $4",
                tx.dialect().unindexed("state")
            ))
            .bind(tenant)
            .bind(OpKind::sync(kind).key(id, None))
            .bind(&now)
            .bind(OpKind::sync(kind).as_str())
            .execute(tx.on())
            .await?;
            let entry = subject(AuditEntry::new(tenant, Source::Scim, origin, format!("{}.delete", kind_word(kind))), kind, id)
                .detail(serde_json::json!({ "name": cols.name }));
            audit::record(&mut tx, &[entry], &now).await?;
            enqueue(&mut tx, tenant, OpKind::delete(kind), id, None, &payload, &now).await?;
            stmt(format!("DELETE FROM {} WHERE tenant = $1 AND id = $2", table(kind)))
                .bind(tenant)
                .bind(id)
                .execute(tx.on())
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        self.observe_scim_write(r)
    }

    /// Count of pending outbox operations per kind for a tenant (diagnostics and tests).
    pub async fn outbox_counts(&self, tenant: &str) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(stmt(
            "SELECT kind, count(*) FROM operations WHERE tenant = $1 AND state = 'pending' GROUP BY kind ORDER BY kind",
        )
        .bind(tenant)
        .fetch_all(self.read())
        .await?)
    }
}

/// Creates one resource (and its first members) in `tx`, with its sync queued.
pub(super) async fn create_in(
    tx: &mut Tx<'_>,
    kind: ResourceKind,
    tenant: &str,
    doc: Map<String, Value>,
    members: Option<Vec<String>>,
    origin: &Origin,
    now: &str,
) -> Result<(Row, i64), StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    insert_resource(tx, kind, tenant, &id, &doc, now).await?;
    // Recorded before the operations it causes (they name it as their cause).
    let mut attributes: Vec<&String> = doc.keys().collect();
    attributes.sort();
    let entry = subject(
        AuditEntry::new(tenant, Source::Scim, origin, format!("{}.create", kind_word(kind))),
        kind,
        &id,
    )
    .detail(serde_json::json!({ "name": Columns::of(kind, &doc).name, "attributes": attributes }));
    audit::record(tx, &[entry], now).await?;
    let op_id = enqueue_with(tx, tenant, OpKind::sync(kind), &id, None, &Value::Null, now, false).await?;
    if let Some(members) = members {
        if !members.is_empty() {
            apply_member_edits(tx, tenant, &id, &[MemberEdit::Add(members)], origin, now).await?;
        }
    }
    // A new user belongs to no group yet (memberships come from group writes).
    let links = (kind == ResourceKind::User).then(Vec::new);
    let row = Row {
        id,
        doc,
        version: 1,
        created: now.to_owned(),
        last_modified: now.to_owned(),
        links,
    };
    Ok((row, op_id))
}

fn check_precondition(if_match: Option<&IfMatch>, version: i64) -> Result<(), StoreError> {
    match if_match {
        Some(m) if !m.allows(version) => Err(StoreError::PreconditionFailed),
        _ => Ok(()),
    }
}

async fn insert_resource(
    tx: &mut Tx<'_>,
    kind: ResourceKind,
    tenant: &str,
    id: &str,
    doc: &Map<String, Value>,
    now: &str,
) -> Result<(), StoreError> {
    let d = tx.dialect();
    let cols = Columns::of(kind, doc);
    let doc_text = serde_json::to_string(doc)?;
    let s = match kind {
        ResourceKind::User => stmt(format!(
            "INSERT INTO scim_users (tenant, id, user_name, user_name_lower, external_id, display_name, active, doc, version, created, last_modified) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, {}, 1, $9, $9)",
            d.json_param(8)
        ))
        .bind(tenant)
        .bind(id)
        .bind(&cols.name)
        .bind(&cols.name_lower)
        .bind(&cols.external_id)
        .bind(&cols.display_name)
        .bind(cols.active)
        .bind(&doc_text)
        .bind(now),
        ResourceKind::Group => stmt(format!(
            "INSERT INTO scim_groups (tenant, id, display_name, display_name_lower, external_id, doc, version, created, last_modified) \
             VALUES ($1, $2, $3, $4, $5, {}, 1, $7, $7)",
            d.json_param(6)
        ))
        .bind(tenant)
        .bind(id)
        .bind(&cols.name)
        .bind(&cols.name_lower)
        .bind(&cols.external_id)
        .bind(&doc_text)
        .bind(now),
    };
    match s.execute(tx.on()).await {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(conflict_detail(kind, doc))),
        Err(e) => Err(e.into()),
    }
}

/// The resource, read (and on PostgreSQL row-locked) in the write transaction.
async fn load_for_update(tx: &mut Tx<'_>, kind: ResourceKind, tenant: &str, id: &str) -> Result<Row, StoreError> {
    let d = tx.dialect();
    let sql = format!(
        "SELECT {} FROM {} r WHERE r.tenant = $1 AND r.id = $2{}",
        row_columns(d, kind, false),
        table(kind),
        d.for_update()
    );
    let row: Option<RowRecord> = stmt(sql).bind(tenant).bind(id).fetch_optional(tx.on()).await?;
    row.map(to_row).transpose()?.ok_or(StoreError::NotFound)
}

/// Writes the new document (and bumps the version) if anything changed; returns the row.
async fn write_back(
    tx: &mut Tx<'_>,
    kind: ResourceKind,
    tenant: &str,
    current: Row,
    doc: Map<String, Value>,
    changed: bool,
    now: &str,
) -> Result<Row, StoreError> {
    if !changed {
        return Ok(current);
    }
    let d = tx.dialect();
    let cols = Columns::of(kind, &doc);
    let doc_text = serde_json::to_string(&doc)?;
    let version = current.version + 1;
    let s = match kind {
        ResourceKind::User => stmt(format!(
            "UPDATE scim_users SET user_name = $3, user_name_lower = $4, external_id = $5, display_name = $6, active = $7, doc = {}, \
             version = $9, last_modified = $10 WHERE tenant = $1 AND id = $2",
            d.json_param(8)
        ))
        .bind(tenant)
        .bind(&current.id)
        .bind(&cols.name)
        .bind(&cols.name_lower)
        .bind(&cols.external_id)
        .bind(&cols.display_name)
        .bind(cols.active)
        .bind(&doc_text)
        .bind(version)
        .bind(now),
        ResourceKind::Group => stmt(format!(
            "UPDATE scim_groups SET display_name = $3, display_name_lower = $4, external_id = $5, doc = {}, version = $7, last_modified = $8 \
             WHERE tenant = $1 AND id = $2",
            d.json_param(6)
        ))
        .bind(tenant)
        .bind(&current.id)
        .bind(&cols.name)
        .bind(&cols.name_lower)
        .bind(&cols.external_id)
        .bind(&doc_text)
        .bind(version)
        .bind(now),
    };
    match s.execute(tx.on()).await {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict(conflict_detail(kind, &doc))),
        Err(e) => return Err(e.into()),
    }
    Ok(Row {
        id: current.id,
        doc,
        version,
        created: current.created,
        last_modified: now.to_string(),
        links: None,
    })
}

/// Runs membership edits as bulk statements (a list parameter), never one round trip per
/// member. Returns whether membership changed.
async fn apply_member_edits(
    tx: &mut Tx<'_>,
    tenant: &str,
    group_id: &str,
    edits: &[MemberEdit],
    origin: &Origin,
    now: &str,
) -> Result<bool, StoreError> {
    let mut changed = false;
    let mut all_added: Vec<String> = Vec::new();
    let mut all_removed: Vec<String> = Vec::new();
    for edit in edits {
        match edit {
            MemberEdit::Add(ids) => {
                check_members_exist(tx, tenant, ids).await?;
                let added = insert_members(tx, tenant, group_id, ids).await?;
                enqueue_members(tx, tenant, group_id, &added, now).await?;
                changed |= !added.is_empty();
                all_added.extend(added);
            }
            MemberEdit::Remove(ids) => {
                let removed = delete_members(tx, tenant, group_id, ids, false).await?;
                enqueue_members(tx, tenant, group_id, &removed, now).await?;
                changed |= !removed.is_empty();
                all_removed.extend(removed);
            }
            MemberEdit::Replace(ids) => {
                check_members_exist(tx, tenant, ids).await?;
                let removed = delete_members(tx, tenant, group_id, ids, true).await?;
                enqueue_members(tx, tenant, group_id, &removed, now).await?;
                let added = insert_members(tx, tenant, group_id, ids).await?;
                enqueue_members(tx, tenant, group_id, &added, now).await?;
                changed |= !removed.is_empty() || !added.is_empty();
                all_removed.extend(removed);
                all_added.extend(added);
            }
            MemberEdit::RemoveWhere(f) => {
                let rows: Vec<(String, String)> = stmt(
                    "SELECT m.member_id, coalesce(u.display_name, u.user_name) FROM scim_group_members m \
                     JOIN scim_users u ON u.tenant = m.tenant AND u.id = m.member_id WHERE m.tenant = $1 AND m.group_id = $2",
                )
                .bind(tenant)
                .bind(group_id)
                .fetch_all(tx.on())
                .await?;
                let parent = schema::resolve(ResourceKind::Group, None, "members", None)
                    .ok_or_else(|| StoreError::Invalid("the Group schema has no members attribute".into()))?;
                let ids: Vec<String> = rows
                    .into_iter()
                    .filter(|(id, display)| {
                        let element = serde_json::json!({"value": id, "display": display, "type": "User"});
                        filter::matches_element(f, ResourceKind::Group, &parent, &element)
                    })
                    .map(|(id, _)| id)
                    .collect();
                let removed = delete_members(tx, tenant, group_id, &ids, false).await?;
                enqueue_members(tx, tenant, group_id, &removed, now).await?;
                changed |= !removed.is_empty();
                all_removed.extend(removed);
            }
        }
    }
    // One record per member added or removed (an add then a remove of one member in one
    // request leaves both), in one statement each.
    for (action, ids) in [("group.member.add", &all_added), ("group.member.remove", &all_removed)] {
        let entry = AuditEntry::new(tenant, Source::Scim, origin, action).group(group_id);
        audit::record_each_user(tx, &entry, ids, now).await?;
    }
    Ok(changed)
}

fn kind_word(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "user",
        ResourceKind::Group => "group",
    }
}

/// The entry with the resource as its user or group.
fn subject(entry: AuditEntry, kind: ResourceKind, id: &str) -> AuditEntry {
    match kind {
        ResourceKind::User => entry.user(id),
        ResourceKind::Group => entry.group(id),
    }
}

/// A PUT or PATCH: records it (the names of the attributes that changed, never their values),
/// then queues the sync and applies the member edits, which name that record as their cause.
/// A request that changed nothing leaves no record. Returns whether anything changed.
#[allow(clippy::too_many_arguments)]
async fn record_and_apply(
    tx: &mut Tx<'_>,
    kind: ResourceKind,
    tenant: &str,
    id: &str,
    (verb, origin): (&str, &Origin),
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    edits: &[MemberEdit],
    now: &str,
) -> Result<bool, StoreError> {
    let doc_changed = old != new;
    if !doc_changed && edits.is_empty() {
        return Ok(false);
    }
    let mut changed: Vec<&String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| old.get(*k) != new.get(*k))
        .collect();
    changed.sort();
    changed.dedup();
    let entry = subject(
        AuditEntry::new(tenant, Source::Scim, origin, format!("{}.{verb}", kind_word(kind))),
        kind,
        id,
    )
    .detail(serde_json::json!({ "name": Columns::of(kind, new).name, "changed": changed }));
    audit::record(tx, &[entry], now).await?;
    let record = tx.cause();
    if doc_changed {
        enqueue(tx, tenant, OpKind::sync(kind), id, None, &Value::Null, now).await?;
    }
    let members_changed = !edits.is_empty() && apply_member_edits(tx, tenant, id, edits, origin, now).await?;
    if !doc_changed && !members_changed {
        // Member edits that changed nothing (adding a member already there): no record.
        stmt("DELETE FROM audit_log WHERE seq = $1")
            .bind(record)
            .execute(tx.on())
            .await?;
    }
    Ok(doc_changed || members_changed)
}

/// Fails with the first 20 ids that name no user of the tenant. On PostgreSQL the users found
/// are locked `FOR KEY SHARE`: none can be deleted (by another replica) before this
/// transaction commits its memberships, so the check holds until the insert.
async fn check_members_exist(tx: &mut Tx<'_>, tenant: &str, ids: &[String]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let d = tx.dialect();
    let lock = d.for_key_share();
    let found: Vec<String> = stmt(format!(
        "SELECT u.id FROM scim_users u WHERE u.tenant = $1 AND {}{lock}",
        d.in_list("u.id", 2)
    ))
    .bind(tenant)
    .bind(ids)
    .scalars(tx.on())
    .await?;
    let found: std::collections::HashSet<&str> = found.iter().map(String::as_str).collect();
    let mut missing: Vec<String> = Vec::new();
    for id in ids {
        if !found.contains(id.as_str()) && !missing.contains(id) {
            missing.push(id.clone());
            if missing.len() == 20 {
                break;
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::UnknownMembers(missing))
    }
}

async fn insert_members(
    tx: &mut Tx<'_>,
    tenant: &str,
    group_id: &str,
    ids: &[String],
) -> Result<Vec<String>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // RETURNING yields only the rows actually inserted, i.e. the new memberships. (`WHERE
    // true` lets SQLite parse ON CONFLICT after a SELECT.)
    let sql = format!(
        "INSERT INTO scim_group_members (tenant, group_id, member_id) SELECT DISTINCT $1, $2, j.value FROM {} j WHERE true \
         ON CONFLICT DO NOTHING RETURNING member_id",
        tx.dialect().list_rows(3)
    );
    Ok(stmt(sql).bind(tenant).bind(group_id).bind(ids).scalars(tx.on()).await?)
}

/// Deletes the listed members, or with `keep` set every member NOT listed.
async fn delete_members(
    tx: &mut Tx<'_>,
    tenant: &str,
    group_id: &str,
    ids: &[String],
    keep: bool,
) -> Result<Vec<String>, StoreError> {
    if ids.is_empty() && !keep {
        return Ok(Vec::new());
    }
    let d = tx.dialect();
    let which = if keep {
        d.not_in_list("member_id", 3)
    } else {
        d.in_list("member_id", 3)
    };
    let sql =
        format!("DELETE FROM scim_group_members WHERE tenant = $1 AND group_id = $2 AND {which} RETURNING member_id");
    Ok(stmt(sql).bind(tenant).bind(group_id).bind(ids).scalars(tx.on()).await?)
}
