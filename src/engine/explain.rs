//! "Why does this person have this role on this account?": the chain from a SCIM user
//! through its groups and the `[[assignments]]` rules they match to the role assignments,
//! their tasks and the deployment on each account; and the reverse, for an account.
//!
//! What the rules give is resolved against Identity Center (role configuration names, "all
//! accounts"); when it cannot be reached, the explanation still shows the matching rules and
//! the assignments cic-bridge recorded, and says what it could not resolve.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Engine, TenantPolicy};
use crate::config::TenantMode;
use crate::scim::schema::ResourceKind;
use crate::store::{TaskRow, TenantSnapshot};
use crate::tencent::model::ListRoleConfigurationProvisionings;

use super::reconcile::ReconcileError as ExplainError;

/// What one explanation reads once and every assignment in it uses.
struct Cx<'a> {
    tenant: &'a TenantPolicy,
    stored: &'a TenantSnapshot,
    tasks: &'a [TaskRow],
}

/// A group's assignments, each with the rules that give it.
struct GroupGrants {
    /// (rule label, role as written, target as written)
    rules: Vec<(String, String, String)>,
    /// (role configuration id, account) → resolved from the rules
    resolved: Vec<(String, u64)>,
    /// (rule label, role configuration id, account, why the rule targets the account):
    /// which rule gives which pair.
    by_rule: Vec<(String, String, u64, String)>,
    unresolved: Option<String>,
}

impl GroupGrants {
    /// The rules (label, role as written, target as written) that give `(rc, uin)`.
    fn rules_for(&self, rc: &str, uin: u64) -> Vec<(String, String, String)> {
        self.rules
            .iter()
            .filter(|(label, _, _)| {
                self.by_rule
                    .iter()
                    .any(|(l, r, u, _)| l == label && r == rc && *u == uin)
            })
            .cloned()
            .collect()
    }

    /// Why each rule that gives `(rc, uin)` targets the account: "department
    /// Production/Payments (assignments[0]: group = …)".
    fn via(&self, rc: &str, uin: u64) -> Vec<String> {
        let mut out: Vec<String> = self
            .by_rule
            .iter()
            .filter(|(_, r, u, _)| r == rc && *u == uin)
            .map(|(label, _, _, via)| format!("{via} ({label})"))
            .collect();
        out.dedup();
        out
    }
}

impl Engine {
    fn pick_tenants(&self, tenant: Option<&str>) -> Result<Vec<TenantPolicy>, ExplainError> {
        match tenant {
            Some(t) => self
                .tenants
                .get(t)
                .cloned()
                .map(|t| vec![t])
                .ok_or_else(|| ExplainError::UnknownTenant(t.to_owned())),
            None => {
                let mut v: Vec<TenantPolicy> = self.tenants.values().cloned().collect();
                v.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(v)
            }
        }
    }

    async fn group_grants(&self, t: &TenantPolicy, display: &str) -> GroupGrants {
        let rules = self
            .rules()
            .matching(&t.name, display)
            .into_iter()
            .map(|(label, role, target)| {
                let role = match role {
                    super::rules::RoleRef::Id(id) => id,
                    super::rules::RoleRef::Name(n) => format!("named {n:?}"),
                };
                let target = match target {
                    super::rules::Target::Uin(u) => u.to_string(),
                    super::rules::Target::AllAccounts => "all member accounts".to_owned(),
                    super::rules::Target::Select(sel) => sel.to_string(),
                };
                (label, role, target)
            })
            .collect::<Vec<_>>();
        if rules.is_empty() {
            return GroupGrants {
                rules,
                resolved: Vec::new(),
                by_rule: Vec::new(),
                unresolved: None,
            };
        }
        if t.mode == TenantMode::Shadow {
            return GroupGrants {
                rules,
                resolved: Vec::new(),
                by_rule: Vec::new(),
                unresolved: Some("shadow mode: rules are not resolved against Identity Center".into()),
            };
        }
        match self.resolve_rules(t, display).await {
            Ok(Ok(resolved)) => {
                // Resolution succeeded, so the names and accounts below are known (and cached).
                let roles = self.role_configurations(&t.zone_id).await.unwrap_or_default();
                let org = self.organization().await.unwrap_or_default();
                let mut by_rule = Vec::new();
                for (label, role, target) in self.rules().matching(&t.name, display) {
                    let rc = roles.iter().find(|r| match &role {
                        super::rules::RoleRef::Id(id) => &r.role_configuration_id == id,
                        super::rules::RoleRef::Name(n) => &r.role_configuration_name == n,
                    });
                    let Some(rc) = rc else { continue };
                    for (u, via) in org.accounts_of(&target).unwrap_or_default() {
                        by_rule.push((label.clone(), rc.role_configuration_id.clone(), u, via));
                    }
                }
                GroupGrants {
                    rules,
                    resolved,
                    by_rule,
                    unresolved: None,
                }
            }
            Ok(Err(reason)) => GroupGrants {
                rules,
                resolved: Vec::new(),
                by_rule: Vec::new(),
                unresolved: Some(reason),
            },
            Err(e) => GroupGrants {
                rules,
                resolved: Vec::new(),
                by_rule: Vec::new(),
                unresolved: Some(format!("Identity Center unreachable: {e}")),
            },
        }
    }

    /// The deployment status of a role configuration on an account, as Identity Center
    /// reports it (or why it is unknown).
    async fn deployment(&self, t: &TenantPolicy, rc: &str, uin: u64) -> String {
        if t.mode == TenantMode::Shadow {
            return "unknown (shadow mode)".into();
        }
        let r = self
            .client
            .list_all(&ListRoleConfigurationProvisionings {
                zone_id: t.zone_id.clone(),
                role_configuration_id: Some(rc.to_owned()),
                target_uin: Some(uin),
                max_results: Some(100),
                ..Default::default()
            })
            .await;
        match r {
            Ok(list) => list
                .into_iter()
                .find(|d| d.target_uin == uin && d.role_configuration_id == rc)
                .map(|d| format!("{:?}", d.deployment_status))
                .unwrap_or_else(|| "not deployed".into()),
            Err(e) => format!("unknown ({e})"),
        }
    }

    async fn assignment_json(
        &self,
        cx: &Cx<'_>,
        group: &str,
        rc: &str,
        uin: u64,
        rules: &[(String, String, String)],
    ) -> Value {
        let (t, stored, tasks) = (cx.tenant, cx.stored, cx.tasks);
        let managed = stored
            .assignments
            .iter()
            .any(|(g, r, u)| g == group && r == rc && *u == uin);
        let tasks: Vec<Value> = tasks
            .iter()
            .filter(|x| {
                x.role_configuration_id == rc
                    && x.target_uin == uin
                    && x.scim_group.as_deref().is_none_or(|g| g == group)
            })
            .map(|x| {
                json!({"taskId": x.task_id, "type": x.task_type, "status": x.status,
                       "failureReason": x.failure_reason, "updatedAt": x.updated_at})
            })
            .collect();
        let role_name = self
            .role_configurations(&t.zone_id)
            .await
            .ok()
            .and_then(|l| l.into_iter().find(|r| r.role_configuration_id == rc))
            .map(|r| r.role_configuration_name);
        let history = self.assignment_history(&t.name, group, rc, uin).await;
        json!({
            "roleConfigurationId": rc,
            "roleConfigurationName": role_name,
            "account": uin,
            "history": history,
            "rules": rules.iter().map(|(l, _, _)| l.clone()).collect::<Vec<_>>(),
            "assigned": if managed { "yes (cic-bridge recorded the assignment)" } else { "not yet (no successful assignment recorded)" },
            "tasks": tasks,
            "deployment": self.deployment(t, rc, uin).await,
        })
    }

    /// When the assignment was made and why, from the audit trail: the CreateRoleAssignment
    /// call, its task's end, and the chain of records that queued it (the SCIM write, the
    /// organization refresh, the operator's action). `null` when the trail has no such call
    /// (made before the trail existed, or pruned).
    async fn assignment_history(&self, tenant: &str, group: &str, rc: &str, uin: u64) -> Value {
        let Ok(Some((call, end))) = self.store.audit_assignment(tenant, group, rc, uin).await else {
            return Value::Null;
        };
        let causes = self.store.audit_causes(&call, 8).await.unwrap_or_default();
        let brief = |r: &crate::store::AuditRecord| {
            json!({"seq": r.seq, "at": r.at, "action": r.action, "actor": r.actor, "requestId": r.request_id,
                   "user": r.user_id, "group": r.group_id})
        };
        let call_detail: Value = serde_json::from_str(&call.detail).unwrap_or(Value::Null);
        json!({
            "assignedAt": end.as_ref().map(|e| e.at.clone()).unwrap_or_else(|| call.at.clone()),
            "call": {"seq": call.seq, "at": call.at, "requestId": call_detail["requestId"], "taskId": call_detail["taskId"],
                     "rules": call_detail["cause"]["rules"]},
            "taskEnd": end.as_ref().map(|e| json!({"seq": e.seq, "at": e.at,
                "status": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null)["status"]})),
            "causes": causes.iter().map(brief).collect::<Vec<_>>(),
        })
    }

    /// The chain for a user, by SCIM id or userName (case-insensitive), in `tenant` or in
    /// whichever tenant has it. `None` when no tenant has such a user.
    pub async fn explain_user(&self, user: &str, tenant: Option<&str>) -> Result<Option<Value>, ExplainError> {
        for t in self.pick_tenants(tenant)? {
            let stored = self.store.tenant_snapshot(&t.name).await?;
            let found = stored.users.iter().find(|(id, doc)| {
                id == user
                    || doc
                        .get("userName")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.to_lowercase() == user.to_lowercase())
            });
            let Some((uid, doc)) = found else {
                continue;
            };
            let tasks = self.store.tasks(Some(&t.name), None, None, None, 10_000).await?;
            let cx = Cx {
                tenant: &t,
                stored: &stored,
                tasks: &tasks,
            };
            let link = |kind: ResourceKind, id: &str| {
                stored
                    .links
                    .iter()
                    .find(|(k, s, _)| *k == kind && s == id)
                    .map(|(_, _, l)| l.cic_id.clone())
            };
            let mut groups = Vec::new();
            for (gid, _) in stored.members.iter().filter(|(_, u)| u == uid) {
                let display = stored
                    .groups
                    .iter()
                    .find(|(id, _)| id == gid)
                    .and_then(|(_, d)| d.get("displayName"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let grants = self.group_grants(&t, &display).await;
                let mut assignments = Vec::new();
                for (rc, uin) in &grants.resolved {
                    let rules = grants.rules_for(rc, *uin);
                    let mut a = self.assignment_json(&cx, gid, rc, *uin, &rules).await;
                    a["via"] = json!(grants.via(rc, *uin));
                    assignments.push(a);
                }
                // Recorded assignments the rules no longer give (being removed, or rules changed).
                for (_, rc, uin) in stored
                    .assignments
                    .iter()
                    .filter(|(g, rc, uin)| g == gid && !grants.resolved.contains(&(rc.clone(), *uin)))
                {
                    if grants.unresolved.is_some() {
                        assignments.push(self.assignment_json(&cx, gid, rc, *uin, &[]).await);
                    } else {
                        let mut a = self.assignment_json(&cx, gid, rc, *uin, &[]).await;
                        a["note"] = json!("no rule gives this any more; the next assign.sync removes it");
                        assignments.push(a);
                    }
                }
                let member_since = match self.store.audit_membership(&t.name, gid, uid).await {
                    Ok(Some(r)) => json!({"at": r.at, "actor": r.actor, "requestId": r.request_id, "seq": r.seq}),
                    _ => Value::Null,
                };
                groups.push(json!({
                    "id": gid,
                    "displayName": display,
                    "memberSince": member_since,
                    "cicGroupId": link(ResourceKind::Group, gid),
                    "rules": grants.rules.iter().map(|(l, r, tg)| json!({"rule": l, "roleConfiguration": r, "target": tg})).collect::<Vec<_>>(),
                    "unresolved": grants.unresolved,
                    "assignments": assignments,
                }));
            }
            return Ok(Some(json!({
                "tenant": t.name,
                "zoneId": t.zone_id,
                "user": {
                    "id": uid,
                    "userName": doc.get("userName"),
                    "active": doc.get("active").and_then(Value::as_bool).unwrap_or(true),
                    "cicUserId": link(ResourceKind::User, uid),
                },
                "groups": groups,
            })));
        }
        Ok(None)
    }

    /// Who holds which role configuration on account `uin`, and why.
    pub async fn explain_account(&self, uin: u64, tenant: Option<&str>) -> Result<Value, ExplainError> {
        let mut out = Vec::new();
        for t in self.pick_tenants(tenant)? {
            let stored = self.store.tenant_snapshot(&t.name).await?;
            let tasks: Vec<TaskRow> = self
                .store
                .tasks(Some(&t.name), None, None, None, 10_000)
                .await?
                .into_iter()
                .filter(|x| x.target_uin == uin)
                .collect();
            let cx = Cx {
                tenant: &t,
                stored: &stored,
                tasks: &tasks,
            };
            let mut by_role: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            let mut unresolved = Vec::new();
            for (gid, doc) in &stored.groups {
                let display = doc.get("displayName").and_then(Value::as_str).unwrap_or_default();
                let grants = self.group_grants(&t, display).await;
                if let Some(why) = &grants.unresolved {
                    unresolved.push(json!({"group": display, "reason": why}));
                }
                let mut pairs: Vec<String> = grants
                    .resolved
                    .iter()
                    .filter(|(_, u)| *u == uin)
                    .map(|(rc, _)| rc.clone())
                    .collect();
                pairs.extend(
                    stored
                        .assignments
                        .iter()
                        .filter(|(g, _, u)| g == gid && *u == uin)
                        .map(|(_, rc, _)| rc.clone()),
                );
                pairs.sort();
                pairs.dedup();
                for rc in pairs {
                    let mut a = self.assignment_json(&cx, gid, &rc, uin, &grants.rules).await;
                    a["via"] = json!(grants.via(&rc, uin));
                    let users: Vec<Value> = stored
                        .members
                        .iter()
                        .filter(|(g, _)| g == gid)
                        .filter_map(|(_, u)| stored.users.iter().find(|(id, _)| id == u))
                        .map(|(_, d)| d.get("userName").cloned().unwrap_or(Value::Null))
                        .collect();
                    a["group"] = json!({"id": gid, "displayName": display});
                    a["users"] = json!(users);
                    by_role.entry(rc).or_default().push(a);
                }
            }
            out.push(json!({
                "tenant": t.name,
                "zoneId": t.zone_id,
                "roles": by_role.into_iter().map(|(rc, grants)| json!({"roleConfigurationId": rc, "grants": grants})).collect::<Vec<_>>(),
                "unresolved": unresolved,
            }));
        }
        Ok(json!({"account": uin, "tenants": out}))
    }
}

/// The user chain as readable text (the CLI).
pub fn render_user(v: &Value) -> String {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let u = &v["user"];
    let mut out = format!(
        "user {} (scim {}, Identity Center {}), tenant {} (zone {}){}\n",
        s(&u["userName"]),
        s(&u["id"]),
        s(&u["cicUserId"]),
        s(&v["tenant"]),
        s(&v["zoneId"]),
        if u["active"] == json!(false) { ", inactive" } else { "" }
    );
    let groups = v["groups"].as_array().cloned().unwrap_or_default();
    if groups.is_empty() {
        out.push_str("  member of no group: no role assignment comes from the rules\n");
    }
    for g in groups {
        out.push_str(&format!(
            "  group {:?} (scim {}, Identity Center {})\n",
            s(&g["displayName"]),
            s(&g["id"]),
            s(&g["cicGroupId"])
        ));
        if !g["memberSince"].is_null() {
            out.push_str(&format!(
                "    member since {} (added by {}, request {}, audit seq {})\n",
                s(&g["memberSince"]["at"]),
                s(&g["memberSince"]["actor"]),
                s(&g["memberSince"]["requestId"]),
                s(&g["memberSince"]["seq"])
            ));
        }
        let rules = g["rules"].as_array().cloned().unwrap_or_default();
        if rules.is_empty() {
            out.push_str("    no rule matches this group\n");
        }
        for r in &rules {
            out.push_str(&format!(
                "    rule {} -> {} on {}\n",
                s(&r["rule"]),
                s(&r["roleConfiguration"]),
                s(&r["target"])
            ));
        }
        if !g["unresolved"].is_null() {
            out.push_str(&format!("    not resolved: {}\n", s(&g["unresolved"])));
        }
        render_assignments(&mut out, &g["assignments"], "    ");
    }
    out
}

fn render_assignments(out: &mut String, list: &Value, indent: &str) {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    for a in list.as_array().cloned().unwrap_or_default() {
        out.push_str(&format!(
            "{indent}role {} ({}) on account {}: assigned {}; deployment {}\n",
            s(&a["roleConfigurationId"]),
            s(&a["roleConfigurationName"]),
            s(&a["account"]),
            s(&a["assigned"]),
            s(&a["deployment"])
        ));
        for via in a["via"].as_array().cloned().unwrap_or_default() {
            out.push_str(&format!("{indent}  via {}\n", s(&via)));
        }
        if !a["note"].is_null() {
            out.push_str(&format!("{indent}  {}\n", s(&a["note"])));
        }
        render_history(out, &a["history"], indent);
        for t in a["tasks"].as_array().cloned().unwrap_or_default() {
            out.push_str(&format!(
                "{indent}  task {} {} {}{}\n",
                s(&t["taskId"]),
                s(&t["type"]),
                s(&t["status"]),
                if t["failureReason"].is_null() {
                    String::new()
                } else {
                    format!(": {}", s(&t["failureReason"]))
                }
            ));
        }
    }
}

/// When an assignment was made and what led to it (the audit trail), as text.
fn render_history(out: &mut String, h: &Value, indent: &str) {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    if h.is_null() {
        return;
    }
    out.push_str(&format!(
        "{indent}  assigned at {} (CreateRoleAssignment RequestId {}, task {}, audit seq {})\n",
        s(&h["assignedAt"]),
        s(&h["call"]["requestId"]),
        s(&h["call"]["taskId"]),
        s(&h["call"]["seq"])
    ));
    for c in h["causes"].as_array().cloned().unwrap_or_default() {
        out.push_str(&format!(
            "{indent}    because of {} by {} at {} (audit seq {}{})\n",
            s(&c["action"]),
            s(&c["actor"]),
            s(&c["at"]),
            s(&c["seq"]),
            if c["requestId"].is_null() {
                String::new()
            } else {
                format!(", request {}", s(&c["requestId"]))
            }
        ));
    }
}

/// The account view as readable text (the CLI).
pub fn render_account(v: &Value) -> String {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let mut out = format!("account {}\n", s(&v["account"]));
    for t in v["tenants"].as_array().cloned().unwrap_or_default() {
        out.push_str(&format!("  tenant {} (zone {})\n", s(&t["tenant"]), s(&t["zoneId"])));
        let roles = t["roles"].as_array().cloned().unwrap_or_default();
        if roles.is_empty() {
            out.push_str("    no role assignment from the rules on this account\n");
        }
        for r in roles {
            for g in r["grants"].as_array().cloned().unwrap_or_default() {
                let users: Vec<String> = g["users"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(s)
                    .collect();
                out.push_str(&format!(
                    "    role {} ({}) via group {:?} [{}]: assigned {}; deployment {}\n      users: {}\n",
                    s(&r["roleConfigurationId"]),
                    s(&g["roleConfigurationName"]),
                    s(&g["group"]["displayName"]),
                    g["rules"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .map(s)
                        .collect::<Vec<_>>()
                        .join("; "),
                    s(&g["assigned"]),
                    s(&g["deployment"]),
                    if users.is_empty() {
                        "(none)".to_owned()
                    } else {
                        users.join(", ")
                    }
                ));
                for via in g["via"].as_array().cloned().unwrap_or_default() {
                    out.push_str(&format!("      via {}\n", s(&via)));
                }
            }
        }
        for u in t["unresolved"].as_array().cloned().unwrap_or_default() {
            out.push_str(&format!(
                "    group {:?} not resolved: {}\n",
                s(&u["group"]),
                s(&u["reason"])
            ));
        }
    }
    out
}
