//! Reconciliation: compares what the store holds with what Identity Center holds (users,
//! groups, memberships, the assignments the rules make) and, when asked, queues the fixes.
//!
//! Fixes never call Identity Center from here. The engine's syncs compare the store with the
//! state they last *wrote* (`cic_links.synced`, `cic_assignments`), so drift behind their back
//! is invisible to them; a fix first corrects that record to what Identity Center really holds
//! (or forgets it, when the object is gone) and then queues the ordinary sync, which does the
//! rest through the outbox with its retries, limits and fuse. Objects without cic-bridge's
//! marker are reported as unmanaged and never touched.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{Value, json};

use super::mapping::{self, GroupFields, UserFields};
use super::{Engine, TenantPolicy};
use crate::config::TenantMode;
use crate::scim::schema::ResourceKind;
use crate::store::{CicLink, LinkWrite, OpKind, StoreError, Write};
use crate::tencent::CicError;
use crate::tencent::model::{
    GroupInfo, ListGroupMembers, ListGroups, ListRoleAssignments, ListUsers, PrincipalType, UserInfo, UserStatus,
};

/// What kind of difference an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// Stored, but Identity Center does not have it.
    UserMissing,
    UserDiffers,
    /// In Identity Center with cic-bridge's marker, but the store no longer has it.
    UserExtra,
    GroupMissing,
    GroupDiffers,
    GroupExtra,
    MemberMissing,
    MemberExtra,
    AssignmentMissing,
    AssignmentExtra,
    /// Not cic-bridge's: reported, never changed.
    Unmanaged,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::UserMissing => "user_missing",
            DriftKind::UserDiffers => "user_differs",
            DriftKind::UserExtra => "user_extra",
            DriftKind::GroupMissing => "group_missing",
            DriftKind::GroupDiffers => "group_differs",
            DriftKind::GroupExtra => "group_extra",
            DriftKind::MemberMissing => "member_missing",
            DriftKind::MemberExtra => "member_extra",
            DriftKind::AssignmentMissing => "assignment_missing",
            DriftKind::AssignmentExtra => "assignment_extra",
            DriftKind::Unmanaged => "unmanaged",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub kind: DriftKind,
    /// What it is about, readable: `user ada@corp.example (scim 0193…, cic u-…)`.
    pub object: String,
    pub detail: String,
    /// What `--apply` does about it (none for unmanaged objects).
    pub fix: Option<String>,
}

/// The plan for one tenant.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub tenant: String,
    pub zone_id: String,
    pub at: String,
    /// Set when the tenant could not be compared (shadow mode, Identity Center unreachable).
    pub skipped: Option<String>,
    pub items: Vec<Drift>,
    pub applied: bool,
    /// Operations queued by `apply`.
    pub queued: u64,
}

impl Plan {
    /// Items by kind (unmanaged included).
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for d in &self.items {
            *out.entry(d.kind.as_str()).or_insert(0) += 1;
        }
        out
    }

    /// Drift that cic-bridge repairs (unmanaged objects are not drift).
    pub fn drift(&self) -> usize {
        self.items.iter().filter(|d| d.kind != DriftKind::Unmanaged).count()
    }

    /// A readable plan, one line per item.
    pub fn render(&self) -> String {
        let mut out = format!("tenant {} (zone {}), {}\n", self.tenant, self.zone_id, self.at);
        if let Some(why) = &self.skipped {
            out.push_str(&format!("  skipped: {why}\n"));
            return out;
        }
        if self.items.is_empty() {
            out.push_str("  no drift: Identity Center matches the store\n");
        }
        for d in &self.items {
            out.push_str(&format!("  {:<19} {}: {}\n", d.kind.as_str(), d.object, d.detail));
            if let Some(fix) = &d.fix {
                out.push_str(&format!("  {:<19}   fix: {fix}\n", ""));
            }
        }
        let n = self.drift();
        if self.applied {
            out.push_str(&format!(
                "  {n} difference(s); {} operation(s) queued; a running daemon applies them\n",
                self.queued
            ));
        } else if n > 0 {
            out.push_str(&format!("  {n} difference(s); run with --apply to queue the fixes\n"));
        }
        out
    }
}

/// The last periodic run, for `/admin/status` (`drift`) and metrics.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport {
    pub at: String,
    /// tenant → kind → count
    pub tenants: BTreeMap<String, BTreeMap<&'static str, u64>>,
    /// Tenants that were not compared (shadow mode, Identity Center unreachable), with the
    /// reason.
    pub skipped: BTreeMap<String, String>,
}

impl DriftReport {
    pub fn from_plans(at: String, plans: &[Plan]) -> DriftReport {
        let mut r = DriftReport {
            at,
            tenants: BTreeMap::new(),
            skipped: BTreeMap::new(),
        };
        for p in plans {
            match &p.skipped {
                Some(why) => {
                    r.skipped.insert(p.tenant.clone(), why.clone());
                }
                None => {
                    r.tenants.insert(p.tenant.clone(), p.counts());
                }
            }
        }
        r
    }
}

/// The fixes a plan implies.
#[derive(Default)]
struct Fixes {
    writes: Vec<Write>,
    ops: Vec<(OpKind, String, Option<String>, Value)>,
}

fn parse_marker(description: &str) -> Option<(&str, &str)> {
    let start = description.find("[cic-bridge ")? + "[cic-bridge ".len();
    let rest = &description[start..];
    let end = rest.find(']')?;
    rest[..end].split_once('/')
}

fn user_fields_of(u: &UserInfo) -> UserFields {
    UserFields {
        user_name: u.user_name.clone(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        display_name: u.display_name.clone(),
        email: u.email.clone(),
        description: u.description.clone(),
        enabled: u.user_status == UserStatus::Enabled,
    }
}

fn user_diff(want: &UserFields, have: &UserFields) -> Vec<String> {
    let mut d = Vec::new();
    let mut cmp = |name: &str, a: &str, b: &str| {
        if a != b {
            d.push(format!("{name} is {b:?}, should be {a:?}"));
        }
    };
    cmp("FirstName", &want.first_name, &have.first_name);
    cmp("LastName", &want.last_name, &have.last_name);
    cmp("DisplayName", &want.display_name, &have.display_name);
    cmp("Email", &want.email, &have.email);
    cmp("Description", &want.description, &have.description);
    if want.enabled != have.enabled {
        d.push(format!(
            "UserStatus is {}, should be {}",
            if have.enabled { "Enabled" } else { "Disabled" },
            if want.enabled { "Enabled" } else { "Disabled" }
        ));
    }
    d
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Identity Center: {0}")]
    Cic(#[from] CicError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("no tenant named {0:?}")]
    UnknownTenant(String),
}

impl Engine {
    /// Compares every tenant (or one) and, with `apply`, queues the fixes.
    pub async fn reconcile(&self, tenant: Option<&str>, apply: bool) -> Result<Vec<Plan>, ReconcileError> {
        let mut names: Vec<String> = match tenant {
            Some(t) if self.tenants.contains_key(t) => vec![t.to_owned()],
            Some(t) => return Err(ReconcileError::UnknownTenant(t.to_owned())),
            None => self.tenants.keys().cloned().collect(),
        };
        names.sort();
        let mut plans = Vec::new();
        for name in names {
            let Some(t) = self.tenants.get(&name).cloned() else {
                continue;
            };
            plans.push(self.reconcile_tenant(&t, apply).await?);
        }
        if apply {
            self.notify();
        }
        Ok(plans)
    }

    /// The periodic run: compares without applying and keeps the counts for the status.
    pub async fn reconcile_report(&self) -> DriftReport {
        let at = crate::store::format_time(self.now());
        let mut plans = Vec::new();
        let mut names: Vec<String> = self.tenants.keys().cloned().collect();
        names.sort();
        for name in names {
            let Some(t) = self.tenants.get(&name).cloned() else {
                continue;
            };
            match self.reconcile_tenant(&t, false).await {
                Ok(p) => plans.push(p),
                Err(e) => plans.push(Plan {
                    tenant: t.name.clone(),
                    zone_id: t.zone_id.clone(),
                    at: at.clone(),
                    skipped: Some(e.to_string()),
                    items: Vec::new(),
                    applied: false,
                    queued: 0,
                }),
            }
        }
        let report = DriftReport::from_plans(at, &plans);
        *super::lock(&self.last_drift) = Some(report.clone());
        report
    }

    /// The last periodic reconciliation, if one ran.
    pub fn last_drift(&self) -> Option<DriftReport> {
        super::lock(&self.last_drift).clone()
    }

    async fn reconcile_tenant(&self, t: &TenantPolicy, apply: bool) -> Result<Plan, ReconcileError> {
        let mut plan = Plan {
            tenant: t.name.clone(),
            zone_id: t.zone_id.clone(),
            at: crate::store::format_time(self.now()),
            skipped: None,
            items: Vec::new(),
            applied: false,
            queued: 0,
        };
        if t.mode == TenantMode::Shadow {
            plan.skipped =
                Some("shadow mode: nothing is sent to Identity Center, so there is nothing to compare".into());
            return Ok(plan);
        }
        let mut fixes = Fixes::default();
        let stored = self.store.tenant_snapshot(&t.name).await?;
        let zone = t.zone_id.clone();
        let cic_users = self
            .client
            .list_all(&ListUsers {
                zone_id: zone.clone(),
                max_results: Some(100),
                ..Default::default()
            })
            .await?;
        let cic_groups = self
            .client
            .list_all(&ListGroups {
                zone_id: zone.clone(),
                max_results: Some(100),
                ..Default::default()
            })
            .await?;
        let users_by_id: HashMap<&str, &UserInfo> = cic_users.iter().map(|u| (u.user_id.as_str(), u)).collect();
        let groups_by_id: HashMap<&str, &GroupInfo> = cic_groups.iter().map(|g| (g.group_id.as_str(), g)).collect();
        let links: HashMap<(ResourceKind, &str), &CicLink> =
            stored.links.iter().map(|(k, id, l)| ((*k, id.as_str()), l)).collect();
        let user_docs: HashMap<&str, &Value> = stored.users.iter().map(|(id, d)| (id.as_str(), d)).collect();
        let group_docs: HashMap<&str, &Value> = stored.groups.iter().map(|(id, d)| (id.as_str(), d)).collect();
        // Identity Center ids of the objects linked *and present*: memberships and
        // assignments are compared only for those.
        let mut user_cic: HashMap<&str, &str> = HashMap::new();
        let mut cic_user_scim: HashMap<&str, &str> = HashMap::new();
        let mut group_cic: Vec<(&str, &str)> = Vec::new();

        // ---- users
        for (id, doc) in &stored.users {
            let empty = serde_json::Map::new();
            let want = mapping::user_fields(doc.as_object().unwrap_or(&empty), &t.name, id);
            let label = format!("user {} (scim {id})", want.user_name);
            match links.get(&(ResourceKind::User, id.as_str())) {
                None => {
                    plan.items.push(Drift {
                        kind: DriftKind::UserMissing,
                        object: label,
                        detail: "never reached Identity Center (no link)".into(),
                        fix: Some("queue user.sync (creates it)".into()),
                    });
                    fixes.ops.push((OpKind::UserSync, id.clone(), None, Value::Null));
                }
                Some(link) => match users_by_id.get(link.cic_id.as_str()) {
                    None => {
                        plan.items.push(Drift {
                            kind: DriftKind::UserMissing,
                            object: format!("{label}, was {}", link.cic_id),
                            detail: "linked, but Identity Center no longer has it".into(),
                            fix: Some("forget the link and queue user.sync (creates it with its memberships)".into()),
                        });
                        fixes.writes.push(Write::Unlink {
                            tenant: t.name.clone(),
                            kind: ResourceKind::User,
                            scim_id: id.clone(),
                        });
                        fixes.ops.push((OpKind::UserSync, id.clone(), None, Value::Null));
                    }
                    Some(u) => {
                        user_cic.insert(id.as_str(), u.user_id.as_str());
                        cic_user_scim.insert(u.user_id.as_str(), id.as_str());
                        let have = user_fields_of(u);
                        let diff = user_diff(&want, &have);
                        if !diff.is_empty() {
                            plan.items.push(Drift {
                                kind: DriftKind::UserDiffers,
                                object: format!("{label}, cic {}", u.user_id),
                                detail: diff.join("; "),
                                fix: Some("queue user.sync (updates it)".into()),
                            });
                            fixes.writes.push(Write::Link(LinkWrite {
                                tenant: t.name.clone(),
                                kind: ResourceKind::User,
                                scim_id: id.clone(),
                                link: CicLink {
                                    cic_id: u.user_id.clone(),
                                    cic_name: u.user_name.clone(),
                                    synced: serde_json::to_value(&have).unwrap_or_default(),
                                },
                            }));
                            fixes.ops.push((OpKind::UserSync, id.clone(), None, Value::Null));
                        }
                    }
                },
            }
        }
        let mut unmanaged_users = Vec::new();
        for u in &cic_users {
            match parse_marker(&u.description) {
                Some((tenant, scim_id)) if tenant == t.name => {
                    let linked_here = cic_user_scim.get(u.user_id.as_str()) == Some(&scim_id);
                    if !user_docs.contains_key(scim_id) {
                        plan.items.push(Drift {
                            kind: DriftKind::UserExtra,
                            object: format!("user {} (cic {}, marker scim {scim_id})", u.user_name, u.user_id),
                            detail: "has cic-bridge's marker, but the store no longer has the user".into(),
                            fix: Some("queue user.delete (memberships first, then the user)".into()),
                        });
                        fixes.ops.push((
                            OpKind::UserDelete,
                            scim_id.to_owned(),
                            None,
                            json!({"name": u.user_name}),
                        ));
                    } else if !linked_here {
                        plan.items.push(Drift {
                            kind: DriftKind::Unmanaged,
                            object: format!("user {} (cic {})", u.user_name, u.user_id),
                            detail: format!(
                                "carries the marker of stored user {scim_id}, which is linked to another Identity Center user; left alone"
                            ),
                            fix: None,
                        });
                    }
                }
                // Another tenant sharing the zone: its own reconciliation covers it.
                Some(_) => {}
                None => unmanaged_users.push(u.user_name.clone()),
            }
        }
        if !unmanaged_users.is_empty() {
            plan.items.push(Drift {
                kind: DriftKind::Unmanaged,
                object: format!("{} user(s) without cic-bridge's marker", unmanaged_users.len()),
                detail: summarize(&unmanaged_users),
                fix: None,
            });
        }

        // ---- groups
        let mut cic_group_scim: HashMap<&str, &str> = HashMap::new();
        for (id, doc) in &stored.groups {
            let display = doc.get("displayName").and_then(Value::as_str).unwrap_or_default();
            let want = mapping::group_fields(display, &t.name, id);
            let label = format!("group {display:?} (scim {id})");
            match links.get(&(ResourceKind::Group, id.as_str())) {
                None => {
                    plan.items.push(Drift {
                        kind: DriftKind::GroupMissing,
                        object: label,
                        detail: "never reached Identity Center (no link)".into(),
                        fix: Some("queue group.sync (creates it)".into()),
                    });
                    fixes.ops.push((OpKind::GroupSync, id.clone(), None, Value::Null));
                }
                Some(link) => match groups_by_id.get(link.cic_id.as_str()) {
                    None => {
                        plan.items.push(Drift {
                            kind: DriftKind::GroupMissing,
                            object: format!("{label}, was {}", link.cic_id),
                            detail: "linked, but Identity Center no longer has it".into(),
                            fix: Some(
                                "forget the link and queue group.sync (creates it with its members and assignments)"
                                    .into(),
                            ),
                        });
                        fixes.writes.push(Write::Unlink {
                            tenant: t.name.clone(),
                            kind: ResourceKind::Group,
                            scim_id: id.clone(),
                        });
                        // The recorded assignments belonged to the group that is gone; the new
                        // group's assign.sync must create them again.
                        for (_, rc, uin) in stored.assignments.iter().filter(|(g, _, _)| g == id) {
                            fixes.writes.push(Write::Assignment {
                                tenant: t.name.clone(),
                                scim_group: id.clone(),
                                role_configuration_id: rc.clone(),
                                target_uin: *uin,
                                present: false,
                            });
                        }
                        fixes.ops.push((OpKind::GroupSync, id.clone(), None, Value::Null));
                    }
                    Some(g) => {
                        group_cic.push((id.as_str(), g.group_id.as_str()));
                        cic_group_scim.insert(g.group_id.as_str(), id.as_str());
                        let have = GroupFields {
                            group_name: g.group_name.clone(),
                            description: g.description.clone(),
                        };
                        let mut diff = Vec::new();
                        if have.group_name != want.group_name {
                            diff.push(format!(
                                "GroupName is {:?}, should be {:?}",
                                have.group_name, want.group_name
                            ));
                        }
                        if have.description != want.description {
                            diff.push(format!(
                                "Description is {:?}, should be {:?}",
                                have.description, want.description
                            ));
                        }
                        if !diff.is_empty() {
                            plan.items.push(Drift {
                                kind: DriftKind::GroupDiffers,
                                object: format!("{label}, cic {}", g.group_id),
                                detail: diff.join("; "),
                                fix: Some("queue group.sync (updates it)".into()),
                            });
                            fixes.writes.push(Write::Link(LinkWrite {
                                tenant: t.name.clone(),
                                kind: ResourceKind::Group,
                                scim_id: id.clone(),
                                link: CicLink {
                                    cic_id: g.group_id.clone(),
                                    cic_name: g.group_name.clone(),
                                    synced: serde_json::to_value(&have).unwrap_or_default(),
                                },
                            }));
                            fixes.ops.push((OpKind::GroupSync, id.clone(), None, Value::Null));
                        }
                    }
                },
            }
        }
        let mut unmanaged_groups = Vec::new();
        for g in &cic_groups {
            match parse_marker(&g.description) {
                Some((tenant, scim_id)) if tenant == t.name => {
                    if !group_docs.contains_key(scim_id) {
                        plan.items.push(Drift {
                            kind: DriftKind::GroupExtra,
                            object: format!("group {:?} (cic {}, marker scim {scim_id})", g.group_name, g.group_id),
                            detail: "has cic-bridge's marker, but the store no longer has the group".into(),
                            fix: Some("queue group.delete (members first, then the group)".into()),
                        });
                        // group.delete finds an unlinked group by name; a name Identity Center
                        // accepted maps to itself.
                        fixes.ops.push((
                            OpKind::GroupDelete,
                            scim_id.to_owned(),
                            None,
                            json!({"name": g.group_name}),
                        ));
                    } else if cic_group_scim.get(g.group_id.as_str()) != Some(&scim_id) {
                        plan.items.push(Drift {
                            kind: DriftKind::Unmanaged,
                            object: format!("group {:?} (cic {})", g.group_name, g.group_id),
                            detail: format!(
                                "carries the marker of stored group {scim_id}, which is linked to another Identity Center group; left alone"
                            ),
                            fix: None,
                        });
                    }
                }
                Some(_) => {}
                None => unmanaged_groups.push(g.group_name.clone()),
            }
        }
        if !unmanaged_groups.is_empty() {
            plan.items.push(Drift {
                kind: DriftKind::Unmanaged,
                object: format!("{} group(s) without cic-bridge's marker", unmanaged_groups.len()),
                detail: summarize(&unmanaged_groups),
                fix: None,
            });
        }

        // ---- memberships and assignments of the groups present on both sides
        let mut members_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (g, u) in &stored.members {
            members_of.entry(g.as_str()).or_default().insert(u.as_str());
        }
        let rules = self.rules();
        for (scim_group, cic_group) in &group_cic {
            let display = group_docs
                .get(scim_group)
                .and_then(|d| d.get("displayName"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let in_cic: BTreeSet<String> = self
                .client
                .list_all(&ListGroupMembers {
                    zone_id: zone.clone(),
                    group_id: (*cic_group).to_owned(),
                    max_results: Some(100),
                    ..Default::default()
                })
                .await?
                .into_iter()
                .map(|m| m.user_id)
                .collect();
            let wanted = members_of.get(scim_group).cloned().unwrap_or_default();
            for u in &wanted {
                let Some(cic_user) = user_cic.get(u) else {
                    continue; // the user's own sync brings its memberships
                };
                if !in_cic.contains(*cic_user) {
                    let name = users_by_id
                        .get(cic_user)
                        .map(|x| x.user_name.as_str())
                        .unwrap_or_default();
                    plan.items.push(Drift {
                        kind: DriftKind::MemberMissing,
                        object: format!("{name} in group {display:?}"),
                        detail: format!(
                            "the store has the membership; Identity Center group {cic_group} lacks user {cic_user}"
                        ),
                        fix: Some("queue member.sync (adds it)".into()),
                    });
                    fixes.ops.push((
                        OpKind::MemberSync,
                        (*scim_group).to_owned(),
                        Some((*u).to_owned()),
                        Value::Null,
                    ));
                }
            }
            let mut unmanaged_members = Vec::new();
            for cu in &in_cic {
                let name = users_by_id
                    .get(cu.as_str())
                    .map(|x| x.user_name.clone())
                    .unwrap_or_else(|| cu.clone());
                match cic_user_scim.get(cu.as_str()) {
                    Some(scim_user) if !wanted.contains(scim_user) => {
                        plan.items.push(Drift {
                            kind: DriftKind::MemberExtra,
                            object: format!("{name} in group {display:?}"),
                            detail: format!("Identity Center group {cic_group} has user {cu}; the store does not"),
                            fix: Some("queue member.sync (removes it)".into()),
                        });
                        fixes.ops.push((
                            OpKind::MemberSync,
                            (*scim_group).to_owned(),
                            Some((*scim_user).to_owned()),
                            Value::Null,
                        ));
                    }
                    Some(_) => {}
                    None => unmanaged_members.push(name),
                }
            }
            if !unmanaged_members.is_empty() {
                plan.items.push(Drift {
                    kind: DriftKind::Unmanaged,
                    object: format!("members of group {display:?} that cic-bridge does not manage"),
                    detail: summarize(&unmanaged_members),
                    fix: None,
                });
            }

            // Assignments: only groups some rule or a managed assignment concerns.
            let managed: BTreeSet<(String, u64)> = stored
                .assignments
                .iter()
                .filter(|(g, _, _)| g == scim_group)
                .map(|(_, rc, uin)| (rc.clone(), *uin))
                .collect();
            if rules.wanted(&t.name, &display).is_empty() && managed.is_empty() {
                continue;
            }
            let desired: BTreeSet<(String, u64)> = match self.resolve_rules(t, &display).await? {
                Ok(d) => d.into_iter().collect(),
                Err(reason) => {
                    plan.items.push(Drift {
                        kind: DriftKind::AssignmentMissing,
                        object: format!("group {display:?}"),
                        detail: format!("the rules cannot be resolved: {reason}"),
                        fix: None,
                    });
                    continue;
                }
            };
            let actual: BTreeSet<(String, u64)> = self
                .client
                .list_all(&ListRoleAssignments {
                    zone_id: zone.clone(),
                    principal_type: Some(PrincipalType::Group),
                    principal_id: Some((*cic_group).to_owned()),
                    max_results: Some(100),
                    ..Default::default()
                })
                .await?
                .into_iter()
                .map(|a| (a.role_configuration_id, a.target_uin))
                .collect();
            let mut queue_assign = false;
            for (rc, uin) in desired.difference(&actual) {
                plan.items.push(Drift {
                    kind: DriftKind::AssignmentMissing,
                    object: format!("{rc} on account {uin} for group {display:?}"),
                    detail: "a rule gives it; Identity Center does not have it".into(),
                    fix: Some("queue assign.sync (creates it and follows the task)".into()),
                });
                if managed.contains(&(rc.clone(), *uin)) {
                    fixes.writes.push(Write::Assignment {
                        tenant: t.name.clone(),
                        scim_group: (*scim_group).to_owned(),
                        role_configuration_id: rc.clone(),
                        target_uin: *uin,
                        present: false,
                    });
                }
                queue_assign = true;
            }
            for (rc, uin) in actual.difference(&desired) {
                if managed.contains(&(rc.clone(), *uin)) {
                    plan.items.push(Drift {
                        kind: DriftKind::AssignmentExtra,
                        object: format!("{rc} on account {uin} for group {display:?}"),
                        detail: "cic-bridge made it, and no rule gives it any more".into(),
                        fix: Some("queue assign.sync (deletes it)".into()),
                    });
                    queue_assign = true;
                } else {
                    plan.items.push(Drift {
                        kind: DriftKind::Unmanaged,
                        object: format!("{rc} on account {uin} for group {display:?}"),
                        detail: "an assignment cic-bridge did not make; left alone".into(),
                        fix: None,
                    });
                }
            }
            if queue_assign {
                fixes
                    .ops
                    .push((OpKind::AssignSync, (*scim_group).to_owned(), None, Value::Null));
            }
        }

        if apply && !fixes.ops.is_empty() {
            plan.queued = self
                .store
                .apply_fixes(&t.name, &fixes.writes, &fixes.ops, self.now())
                .await?;
        }
        plan.applied = apply;
        Ok(plan)
    }
}

/// Up to ten names, then how many more.
fn summarize(names: &[String]) -> String {
    let mut s = names.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 10 {
        s.push_str(&format!(" and {} more", names.len() - 10));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_parse() {
        assert_eq!(
            parse_marker("Ada [cic-bridge corp/0193-abc]"),
            Some(("corp", "0193-abc"))
        );
        assert_eq!(parse_marker("made by hand"), None);
    }
}
