//! The organization the rules resolve against: departments and member accounts, read from
//! Tencent Cloud Organization, kept in the store as a snapshot and refreshed every
//! `engine.organization_refresh_secs`.
//!
//! A refresh that finds the organization changed puts the new snapshot in force and queues an
//! assignment sync of every group in the same transaction (the rules are then resolved again
//! through the outbox, like a rule change). Three things keep a refresh from doing harm:
//! - a refresh that fails (throttled, refused, unreachable) changes nothing and raises an
//!   alarm;
//! - a refresh after which a rule's department no longer exists (renamed, deleted) is refused
//!   the same way: resolving that rule to no accounts would remove its assignments everywhere;
//! - a refresh that would remove more assignments than the destructive-change fuse allows is
//!   kept aside (held) with an alarm until an operator releases it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::rules::{Selection, Target};
use super::*;
use crate::config::DepartmentRef;
use crate::tencent::model::{OrgMember, OrgNode};

/// The alarm a failed or refused refresh raises, and the one the fuse raises.
pub const REFRESH_ALARM: &str = "organizationRefresh";
pub const FUSE_ALARM: &str = "organizationFuse";
/// Alarms about the organization belong to no tenant; they are filed under this name.
pub const ALARM_TENANT: &str = "organization";

/// A department (`OrgNode`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub id: i64,
    pub name: String,
    /// 0 for the root.
    pub parent: i64,
}

/// A member account (`OrgMember`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub uin: u64,
    pub name: String,
    pub department: i64,
    pub tags: BTreeMap<String, String>,
}

/// The organization's departments and member accounts, sorted (so that equal organizations
/// compare and serialize equal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    pub departments: Vec<Department>,
    pub accounts: Vec<Account>,
}

impl Organization {
    pub fn from_api(nodes: Vec<OrgNode>, members: Vec<OrgMember>) -> Organization {
        let mut departments: Vec<Department> = nodes
            .into_iter()
            .map(|n| Department {
                id: n.node_id,
                name: n.name,
                parent: n.parent_node_id,
            })
            .collect();
        departments.sort_by_key(|d| d.id);
        departments.dedup_by_key(|d| d.id);
        let mut accounts: Vec<Account> = members
            .into_iter()
            .map(|m| Account {
                uin: m.member_uin,
                name: m.name,
                department: m.node_id,
                tags: m.tags.into_iter().map(|t| (t.tag_key, t.tag_value)).collect(),
            })
            .collect();
        accounts.sort_by_key(|a| a.uin);
        accounts.dedup_by_key(|a| a.uin);
        Organization { departments, accounts }
    }

    pub fn uins(&self) -> Vec<u64> {
        self.accounts.iter().map(|a| a.uin).collect()
    }

    pub fn contains(&self, uin: u64) -> bool {
        self.accounts.binary_search_by_key(&uin, |a| a.uin).is_ok()
    }

    fn department(&self, id: i64) -> Option<&Department> {
        self.departments
            .binary_search_by_key(&id, |d| d.id)
            .ok()
            .map(|i| &self.departments[i])
    }

    /// The root: the department without a parent (the lowest id if Tencent ever sent more).
    fn root(&self) -> Option<&Department> {
        self.departments
            .iter()
            .find(|d| d.parent == 0 || self.department(d.parent).is_none())
    }

    fn children<'a>(&'a self, id: i64) -> impl Iterator<Item = &'a Department> + 'a {
        self.departments.iter().filter(move |d| d.parent == id && d.id != id)
    }

    /// Names from below the root down to `id` (`Production/Payments`); the root is its name.
    pub fn path(&self, id: i64) -> String {
        let root = self.root().map(|r| r.id);
        let mut names = Vec::new();
        let mut at = self.department(id);
        // Bounded by the number of departments, whatever cycle a broken answer might hold.
        for _ in 0..=self.departments.len() {
            match at {
                Some(d) if Some(d.id) == root => {
                    if names.is_empty() {
                        names.push(d.name.as_str());
                    }
                    break;
                }
                Some(d) => {
                    names.push(d.name.as_str());
                    at = self.department(d.parent);
                }
                None => break,
            }
        }
        if names.is_empty() {
            return format!("#{id}");
        }
        names.reverse();
        names.join("/")
    }

    /// The department a rule names: its NodeId, or its path of names from the root down
    /// (the root's own name may lead). Unknown and ambiguous names are errors that say which.
    pub fn find(&self, r: &DepartmentRef) -> Result<i64, String> {
        let path = match r {
            DepartmentRef::Id(id) => {
                return self
                    .department(*id)
                    .map(|d| d.id)
                    .ok_or_else(|| format!("department {id} does not exist in the organization"));
            }
            DepartmentRef::Path(p) => p,
        };
        let Some(root) = self.root() else {
            return Err("the organization has no departments".to_owned());
        };
        let parts: Vec<&str> = path.split('/').map(str::trim).filter(|p| !p.is_empty()).collect();
        let walk = |parts: &[&str]| -> Result<Option<i64>, String> {
            let mut at = root.id;
            for (depth, part) in parts.iter().enumerate() {
                let found: Vec<&Department> = self.children(at).filter(|d| d.name == *part).collect();
                match found.as_slice() {
                    [] => return Ok(None),
                    [one] => at = one.id,
                    many => {
                        return Err(format!(
                            "department {path:?} is ambiguous: {} departments named {part:?} under {:?} (NodeIds {}); name it by NodeId",
                            many.len(),
                            if depth == 0 { root.name.clone() } else { self.path(at) },
                            many.iter().map(|d| d.id.to_string()).collect::<Vec<_>>().join(", ")
                        ));
                    }
                }
            }
            Ok(Some(at))
        };
        let below_root = walk(&parts)?;
        let from_root = match parts.split_first() {
            Some((first, rest)) if *first == root.name => walk(rest)?,
            _ => None,
        };
        match (below_root, from_root) {
            (Some(a), Some(b)) if a != b => Err(format!(
                "department {path:?} is ambiguous: it names {:?} below the root and {:?} from the root; name it by NodeId",
                self.path(a),
                self.path(b)
            )),
            (Some(id), _) | (None, Some(id)) => Ok(id),
            (None, None) => Err(format!("department {path:?} does not exist in the organization")),
        }
    }

    /// `id` and, with `sub`, every department below it.
    fn subtree(&self, id: i64, sub: bool) -> BTreeSet<i64> {
        let mut out = BTreeSet::from([id]);
        if !sub {
            return out;
        }
        let mut queue = vec![id];
        while let Some(at) = queue.pop() {
            for c in self.children(at) {
                if out.insert(c.id) {
                    queue.push(c.id);
                }
            }
        }
        out
    }

    /// The accounts `sel` targets, each with why ("department Production/Payments",
    /// "tag env=prod"), sorted by UIN. Errors name a department that is unknown or ambiguous.
    pub fn select(&self, sel: &Selection) -> Result<Vec<(u64, String)>, String> {
        // Department id -> the department the rule named that contains it (for the reason).
        let mut within: BTreeMap<i64, i64> = BTreeMap::new();
        for d in &sel.departments {
            let id = self.find(d)?;
            for inner in self.subtree(id, sel.include_sub_departments) {
                within.entry(inner).or_insert(id);
            }
        }
        let tags = sel
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = Vec::new();
        for a in &self.accounts {
            if sel.exclude.contains(&a.uin) {
                continue;
            }
            if !sel.tags.iter().all(|(k, v)| a.tags.get(k) == Some(v)) {
                continue;
            }
            let via = if sel.departments.is_empty() {
                if tags.is_empty() {
                    "all member accounts".to_owned()
                } else {
                    format!("tag {tags}")
                }
            } else {
                let Some(named) = within.get(&a.department) else {
                    continue;
                };
                if tags.is_empty() {
                    format!("department {}", self.path(*named))
                } else {
                    format!("department {} and tag {tags}", self.path(*named))
                }
            };
            out.push((a.uin, via));
        }
        Ok(out)
    }

    /// The accounts a rule's target names, with why; explicit UINs pass through unchecked.
    pub fn accounts_of(&self, target: &Target) -> Result<Vec<(u64, String)>, String> {
        match target {
            Target::Uin(u) => Ok(vec![(*u, format!("account {u}"))]),
            Target::AllAccounts => Ok(self
                .uins()
                .into_iter()
                .map(|u| (u, "all member accounts".to_owned()))
                .collect()),
            Target::Select(sel) => self.select(sel),
        }
    }
}

/// Puts the organization snapshot the fuse holds in force with the assignment syncs of
/// `tenants`, and clears the fuse alarm: an operator's release, from the admin API (through
/// the engine) or from `cic-bridge jobs retry --held` (on the database alone). The number of
/// syncs queued, or `None` when nothing was held.
pub async fn release_held(store: &Store, tenants: &[String], now: OffsetDateTime) -> Result<Option<u64>, StoreError> {
    let Some(doc) = store.organization().await?.and_then(|r| r.held_doc) else {
        return Ok(None);
    };
    let queued = store.apply_organization(&doc, tenants, now).await?;
    store.clear_alarm(ALARM_TENANT, FUSE_ALARM, now).await?;
    Ok(Some(queued))
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Refresh {
    /// Identity Center shows the organization in force.
    Unchanged,
    /// The new snapshot is in force; `queued` assignment syncs re-resolve the rules.
    #[serde(rename_all = "camelCase")]
    Applied {
        queued: u64,
        assignments_added: u64,
        assignments_removed: u64,
    },
    /// The fuse keeps the new snapshot aside; nothing changed.
    #[serde(rename_all = "camelCase")]
    Held { assignments_removed: u64, limit: u64 },
}

impl Refresh {
    fn label(&self) -> &'static str {
        match self {
            Refresh::Unchanged => "unchanged",
            Refresh::Applied { .. } => "applied",
            Refresh::Held { .. } => "held",
        }
    }
}

/// Why a refresh changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("reading the organization failed: {0}")]
    Cic(#[from] CicError),
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    /// The new organization cannot resolve a rule (a department gone or ambiguous).
    #[error("{0}")]
    Rules(String),
}

/// The organization as `/admin/status` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationStatus {
    pub fetched_at: Option<String>,
    pub applied_at: Option<String>,
    pub age_secs: Option<i64>,
    pub departments: usize,
    pub accounts: usize,
    pub held: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

impl Engine {
    /// The organization in force, as the store holds it. This process keeps a copy with the
    /// snapshot's `applied_at` and reads the whole snapshot again only when the store's
    /// differs: a snapshot applied by another replica, or by this one just now, is what the
    /// next resolution uses (the syncs it queued commit with it). When none was ever stored,
    /// a refresh now.
    pub(crate) async fn organization(&self) -> Result<Arc<Organization>, CicError> {
        match self.store.organization_applied_at().await {
            Ok(Some(at)) => {
                if let Some((copy_at, org)) = lock(&self.org_copy).as_ref() {
                    if *copy_at == at {
                        return Ok(org.clone());
                    }
                }
                match self.store.organization().await {
                    Ok(Some(row)) => match serde_json::from_str::<Organization>(&row.doc) {
                        Ok(org) => {
                            let org = Arc::new(org);
                            *lock(&self.org_copy) = Some((row.applied_at, org.clone()));
                            return Ok(org);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "the stored organization snapshot does not decode; reading it again")
                        }
                    },
                    Ok(None) => {}
                    Err(e) => {
                        if let Some((_, org)) = lock(&self.org_copy).as_ref() {
                            return Ok(org.clone());
                        }
                        tracing::warn!(error = %e, "reading the organization snapshot failed; reading the organization");
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                // The copy held, however old, beats nothing while the store is down.
                if let Some((_, org)) = lock(&self.org_copy).as_ref() {
                    return Ok(org.clone());
                }
                tracing::warn!(error = %e, "reading the organization snapshot failed; reading the organization");
            }
        }
        match self.refresh_organization("first use").await {
            Ok(_) => {}
            Err(RefreshError::Cic(e)) => return Err(e),
            Err(e) => tracing::warn!(error = %e, "the organization snapshot was not stored"),
        }
        let copy = lock(&self.org_copy).as_ref().map(|(_, o)| o.clone());
        match copy {
            Some(org) => Ok(org),
            None => Ok(Arc::new(self.fetch_organization().await?)),
        }
    }

    pub(crate) async fn fetch_organization(&self) -> Result<Organization, CicError> {
        let nodes = self.client.organization_nodes().await?;
        let members = self.client.organization_members().await?;
        Ok(Organization::from_api(nodes, members))
    }

    /// Reads the organization from Identity Center and, if it changed, puts it in force
    /// (or holds it, see the module's comment). `why` is logged.
    pub async fn refresh_organization(&self, why: &str) -> Result<Refresh, RefreshError> {
        let _one = self.org_refreshing.lock().await;
        let started = std::time::Instant::now();
        // A refresh that applies a new organization is recorded as the operator's who asked
        // for it, else as the engine's with the reason.
        let r = match crate::store::audit::acting_origin() {
            Some(_) => self.refresh_inner().await,
            None => {
                let origin = crate::store::Origin::system(&format!("engine ({why})"));
                crate::store::audit::acting(origin, self.refresh_inner()).await
            }
        };
        let now = self.now();
        match &r {
            Ok(done) => {
                crate::prometheus::organization_refresh(done.label(), started.elapsed());
                let _ = self.store.clear_alarm(ALARM_TENANT, REFRESH_ALARM, now).await;
                match done {
                    Refresh::Held { .. } => {}
                    _ => {
                        let _ = self.store.clear_alarm(ALARM_TENANT, FUSE_ALARM, now).await;
                    }
                }
                match done {
                    Refresh::Unchanged => tracing::debug!(why, "organization unchanged"),
                    _ => tracing::info!(why, outcome = ?done, "organization refreshed"),
                }
            }
            Err(e) => {
                crate::prometheus::organization_refresh("failed", started.elapsed());
                tracing::warn!(why, error = %e, "organization refresh failed; the snapshot in force stays");
                let message = format!("organization refresh failed; the snapshot in force stays: {e}");
                let _ = self.store.organization_failed(&e.to_string(), now).await;
                let _ = self.store.raise_alarm(ALARM_TENANT, REFRESH_ALARM, &message, now).await;
            }
        }
        r
    }

    async fn refresh_inner(&self) -> Result<Refresh, RefreshError> {
        let new = self.fetch_organization().await?;
        let rules = self.rules();
        // Every rule must still resolve: a department gone would silently empty its rule.
        let mut problems = Vec::new();
        for t in self.live_policies() {
            for (label, sel) in rules.selections(&t.name) {
                if let Err(e) = new.select(&sel) {
                    problems.push(format!("{label}: {e}"));
                }
            }
        }
        if !problems.is_empty() {
            problems.dedup();
            return Err(RefreshError::Rules(problems.join("; ")));
        }
        let doc = serde_json::to_string(&new).map_err(|e| RefreshError::Rules(e.to_string()))?;
        let now = self.now();
        let stored = self.store.organization().await?;
        let old: Option<Organization> = stored.as_ref().and_then(|row| serde_json::from_str(&row.doc).ok());
        let new = Arc::new(new);
        let outcome = match old {
            Some(old) if old == *new => {
                self.store.organization_unchanged(now).await?;
                Refresh::Unchanged
            }
            Some(old) => {
                let (added, removed, base) = self.assignment_delta(&old, &new).await?;
                let limit = if self.config.fuse_share <= 0.0 {
                    u64::MAX
                } else {
                    ((base as f64) * self.config.fuse_share)
                        .ceil()
                        .max(f64::from(self.config.fuse_min)) as u64
                };
                if removed > limit {
                    let note = format!(
                        "the organization changed so that {removed} role assignments would be removed, more than the destructive-change fuse allows ({limit}: {}% of {base}, at least {}); the snapshot in force stays until `cic-bridge jobs release-held` or POST /admin/jobs/release-held",
                        self.config.fuse_share * 100.0,
                        self.config.fuse_min
                    );
                    self.store.hold_organization(&doc, &note, now).await?;
                    self.store.raise_alarm(ALARM_TENANT, FUSE_ALARM, &note, now).await?;
                    tracing::warn!(
                        removed,
                        limit,
                        "organization refresh held by the destructive-change fuse"
                    );
                    return Ok(Refresh::Held {
                        assignments_removed: removed,
                        limit,
                    });
                }
                let queued = self.store.apply_organization(&doc, &self.live_tenants(), now).await?;
                self.notify();
                Refresh::Applied {
                    queued,
                    assignments_added: added,
                    assignments_removed: removed,
                }
            }
            None => {
                // The first snapshot: the rules resolved against Identity Center directly until
                // now, so syncing every group is what a rule change would do.
                let queued = self.store.apply_organization(&doc, &self.live_tenants(), now).await?;
                self.notify();
                Refresh::Applied {
                    queued,
                    assignments_added: 0,
                    assignments_removed: 0,
                }
            }
        };
        // The next resolution reads what was stored (see `organization`); when the store could
        // not be read back, this read serves.
        if lock(&self.org_copy).is_none() {
            *lock(&self.org_copy) = Some((String::new(), new));
        }
        Ok(outcome)
    }

    /// (added, removed, before): the (group, role, account) grants the rules give the linked
    /// groups under `old` and under `new`. Role configurations are compared by the rule's
    /// reference; no Identity Center call is made.
    async fn assignment_delta(&self, old: &Organization, new: &Organization) -> Result<(u64, u64, u64), StoreError> {
        let rules = self.rules();
        let (mut added, mut removed, mut base) = (0u64, 0u64, 0u64);
        for t in self.live_policies() {
            for group in self.store.linked_group_names(&t.name).await? {
                let wanted = rules.wanted(&t.name, &group);
                if !wanted.iter().any(|(_, target)| !matches!(target, Target::Uin(_))) {
                    continue;
                }
                let grants = |org: &Organization| -> BTreeSet<(String, u64)> {
                    wanted
                        .iter()
                        .flat_map(|(role, target)| {
                            org.accounts_of(target)
                                .unwrap_or_default()
                                .into_iter()
                                .map(move |(uin, _)| (format!("{role:?}"), uin))
                        })
                        .collect()
                };
                let (before, after) = (grants(old), grants(new));
                base += before.len() as u64;
                added += after.difference(&before).count() as u64;
                removed += before.difference(&after).count() as u64;
            }
        }
        Ok((added, removed, base))
    }

    /// Puts the snapshot the fuse holds in force (an operator's release). Returns whether one
    /// was held.
    pub async fn release_held_organization(&self) -> Result<bool, StoreError> {
        let released = release_held(&self.store, &self.live_tenants(), self.now()).await?;
        if released.is_some() {
            self.notify();
        }
        Ok(released.is_some())
    }

    /// The snapshot's age and size, a held refresh and the last error.
    pub async fn organization_status(&self) -> Result<OrganizationStatus, StoreError> {
        let row = self.store.organization().await?;
        let org = row
            .as_ref()
            .and_then(|r| serde_json::from_str::<Organization>(&r.doc).ok())
            .unwrap_or_default();
        let now = self.now();
        Ok(OrganizationStatus {
            age_secs: row
                .as_ref()
                .and_then(|r| parse_ts(&r.fetched_at))
                .map(|t| (now - t).whole_seconds()),
            fetched_at: row.as_ref().map(|r| r.fetched_at.clone()),
            applied_at: row.as_ref().map(|r| r.applied_at.clone()),
            departments: org.departments.len(),
            accounts: org.accounts.len(),
            held: row.as_ref().and_then(|r| r.held_note.clone()),
            last_error: row.as_ref().and_then(|r| r.error.clone()),
            last_error_at: row.as_ref().and_then(|r| r.error_at.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tencent::model::Tag;

    fn node(id: i64, name: &str, parent: i64) -> OrgNode {
        OrgNode {
            node_id: id,
            name: name.into(),
            parent_node_id: parent,
            ..Default::default()
        }
    }

    fn member(uin: u64, node: i64, tags: &[(&str, &str)]) -> OrgMember {
        OrgMember {
            member_uin: uin,
            node_id: node,
            tags: tags
                .iter()
                .map(|(k, v)| Tag {
                    tag_key: (*k).into(),
                    tag_value: (*v).into(),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn org() -> Organization {
        Organization::from_api(
            vec![
                node(1000, "Root", 0),
                node(2001, "Production", 1000),
                node(2004, "Payments", 2001),
                node(2005, "Sandbox", 1000),
                node(2006, "Payments", 2005),
            ],
            vec![
                member(1, 1000, &[]),
                member(2, 2001, &[("env", "prod")]),
                member(3, 2004, &[("env", "prod"), ("team", "pay")]),
                member(4, 2005, &[("env", "dev")]),
                member(5, 2006, &[]),
            ],
        )
    }

    fn sel(depts: &[DepartmentRef], sub: bool, tags: &[(&str, &str)], exclude: &[u64]) -> Selection {
        Selection {
            departments: depts.to_vec(),
            include_sub_departments: sub,
            tags: tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            exclude: exclude.to_vec(),
        }
    }

    fn uins(r: Result<Vec<(u64, String)>, String>) -> Vec<u64> {
        r.expect("resolves").into_iter().map(|(u, _)| u).collect()
    }

    #[test]
    fn departments_by_path_or_id_with_or_without_sub_departments() {
        let o = org();
        let prod = DepartmentRef::Path("Production".into());
        assert_eq!(
            uins(o.select(&sel(std::slice::from_ref(&prod), true, &[], &[]))),
            vec![2, 3]
        );
        assert_eq!(uins(o.select(&sel(&[prod], false, &[], &[]))), vec![2]);
        assert_eq!(
            uins(o.select(&sel(&[DepartmentRef::Id(2004)], true, &[], &[]))),
            vec![3]
        );
        assert_eq!(
            uins(o.select(&sel(
                &[DepartmentRef::Path("Root/Sandbox/Payments".into())],
                true,
                &[],
                &[]
            ))),
            vec![5],
            "the root's own name may lead the path"
        );
        let (_, via) = &o
            .select(&sel(&[DepartmentRef::Path("Production".into())], true, &[], &[]))
            .unwrap()[1];
        assert_eq!(via, "department Production");
    }

    #[test]
    fn tags_must_all_match_and_exclusions_win() {
        let o = org();
        assert_eq!(uins(o.select(&sel(&[], true, &[("env", "prod")], &[]))), vec![2, 3]);
        assert_eq!(
            uins(o.select(&sel(&[], true, &[("env", "prod"), ("team", "pay")], &[]))),
            vec![3]
        );
        assert_eq!(
            uins(o.select(&sel(
                &[DepartmentRef::Path("Production".into())],
                true,
                &[("env", "prod")],
                &[3]
            ))),
            vec![2]
        );
        let r = o.select(&sel(&[], true, &[("env", "prod")], &[])).unwrap();
        assert_eq!(r[0].1, "tag env=prod");
    }

    #[test]
    fn unknown_and_ambiguous_departments_are_named() {
        let o = org();
        let e = o
            .select(&sel(
                &[DepartmentRef::Path("Production/Payroll".into())],
                true,
                &[],
                &[],
            ))
            .unwrap_err();
        assert!(e.contains("\"Production/Payroll\" does not exist"), "{e}");
        let e = o.find(&DepartmentRef::Id(9)).unwrap_err();
        assert!(e.contains("9 does not exist"), "{e}");
        let twins = Organization::from_api(vec![node(1, "Root", 0), node(2, "Ops", 1), node(3, "Ops", 1)], vec![]);
        let e = twins.find(&DepartmentRef::Path("Ops".into())).unwrap_err();
        assert!(e.contains("ambiguous") && e.contains("2, 3"), "{e}");
        assert_eq!(o.path(2004), "Production/Payments");
        assert_eq!(o.path(1000), "Root");
    }

    #[test]
    fn equal_organizations_compare_equal_whatever_the_order_of_the_answer() {
        let a = org();
        let mut nodes = vec![node(2001, "Production", 1000), node(1000, "Root", 0)];
        let b = Organization::from_api(nodes.clone(), vec![member(2, 2001, &[]), member(1, 1000, &[])]);
        nodes.reverse();
        let c = Organization::from_api(nodes, vec![member(1, 1000, &[]), member(2, 2001, &[])]);
        assert_eq!(b, c);
        assert_ne!(a, b);
    }
}
