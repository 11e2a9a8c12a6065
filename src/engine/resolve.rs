//! Rule resolution: the assignment rules in force, role configuration names and member
//! accounts (each through a short cache), and the deployment check.

use super::*;

const CACHE_TTL: Duration = Duration::from_secs(30);

impl Engine {
    /// The assignment rules in force.
    pub fn rules(&self) -> Arc<rules::Rules> {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Validates `new` against Identity Center, then puts it in force and queues an
    /// assignment sync of every group (a rule added, changed or removed applies at once).
    /// Returns the problems (by name) when the rules are refused.
    pub async fn reload_rules(&self, new: rules::Rules) -> Result<Vec<String>, CicError> {
        let problems = self.validate_rules(&new).await?;
        if !problems.is_empty() {
            return Ok(problems);
        }
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
        // The snapshot the new rules resolve against must know what validation just saw.
        if let Err(e) = self.refresh_organization("rules reloaded").await {
            tracing::warn!(error = %e, "the organization snapshot was not refreshed with the new rules");
        }
        self.queue_assignment_syncs().await;
        Ok(problems)
    }

    /// Queues an `assign.sync` of every linked group of every live tenant.
    pub async fn queue_assignment_syncs(&self) {
        let now = self.now();
        for t in self.live_policies() {
            if let Err(e) = self.store.enqueue_assign_all(&t.name, now).await {
                tracing::error!(tenant = %t.name, error = %e, "queueing assignment syncs failed");
            }
        }
        self.notify();
    }

    /// Queues a deployment of every (role configuration, account) that Identity Center shows
    /// as `DeployedRequired` (a role configuration changed after it was deployed).
    pub async fn check_deployments(&self) -> Result<usize, CicError> {
        let mut queued = 0;
        let now = self.now();
        for t in self.live_policies() {
            let stale = self
                .client
                .list_all(&crate::tencent::model::ListRoleConfigurationProvisionings {
                    zone_id: t.zone_id.clone(),
                    deployment_status: Some(crate::tencent::model::DeploymentStatus::DeployedRequired),
                    max_results: Some(100),
                    ..Default::default()
                })
                .await?;
            for d in stale {
                let uin = d.target_uin.to_string();
                if let Err(e) = self
                    .store
                    .enqueue_op(&t.name, OpKind::Deploy, &d.role_configuration_id, Some(&uin), now)
                    .await
                {
                    tracing::error!(error = %e, "queueing a deployment failed");
                    continue;
                }
                queued += 1;
            }
        }
        if queued > 0 {
            tracing::info!(deployments = queued, "queued deployments that are DeployedRequired");
            self.notify();
        }
        Ok(queued)
    }

    /// Role configurations of `zone` (cached for a short while).
    pub(crate) async fn role_configurations(
        &self,
        zone: &str,
    ) -> Result<Vec<crate::tencent::model::RoleConfiguration>, CicError> {
        if let Some((at, list)) = lock(&self.role_cache).get(zone) {
            if at.elapsed() < CACHE_TTL {
                return Ok(list.clone());
            }
        }
        let list = self
            .client
            .list_all(&crate::tencent::model::ListRoleConfigurations {
                zone_id: zone.to_owned(),
                max_results: Some(100),
                ..Default::default()
            })
            .await?;
        lock(&self.role_cache).insert(zone.to_owned(), (std::time::Instant::now(), list.clone()));
        Ok(list)
    }

    /// The organization's member account UINs (from the organization snapshot).
    pub(crate) async fn member_uins(&self) -> Result<Vec<u64>, CicError> {
        Ok(self.organization().await?.uins())
    }

    /// What the rules give a group of `tenant` named `display_name`, resolved into (role
    /// configuration id, account) pairs; `Err(reason)` when a rule names a role configuration
    /// or account that does not exist.
    pub async fn resolve_rules(
        &self,
        tenant: &TenantPolicy,
        display_name: &str,
    ) -> Result<Result<Vec<(String, u64)>, String>, CicError> {
        let wanted = self.rules().wanted(&tenant.name, display_name);
        if wanted.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let roles = self.role_configurations(&tenant.zone_id).await?;
        let org = self.organization().await?;
        let mut out = Vec::new();
        for (role, target) in wanted {
            let id = match &role {
                rules::RoleRef::Id(id) => roles.iter().find(|r| &r.role_configuration_id == id),
                rules::RoleRef::Name(n) => roles.iter().find(|r| &r.role_configuration_name == n),
            };
            let Some(id) = id.map(|r| r.role_configuration_id.clone()) else {
                return Ok(Err(format!(
                    "group {display_name:?}: role configuration {role:?} does not exist in zone {}",
                    tenant.zone_id
                )));
            };
            match target {
                rules::Target::Uin(u) if org.contains(u) || Some(u) == self.manager_uin => out.push((id, u)),
                rules::Target::Uin(u) => {
                    return Ok(Err(format!(
                        "group {display_name:?}: account {u} is not a member account of the organization"
                    )));
                }
                other => match org.accounts_of(&other) {
                    Ok(accounts) => out.extend(accounts.into_iter().map(|(u, _)| (id.clone(), u))),
                    Err(e) => return Ok(Err(format!("group {display_name:?}: {e}"))),
                },
            }
        }
        out.sort();
        out.dedup();
        Ok(Ok(out))
    }

    pub(crate) fn target_type(&self, uin: u64) -> crate::tencent::model::TargetType {
        if Some(uin) == self.manager_uin {
            crate::tencent::model::TargetType::ManagerUin
        } else {
            crate::tencent::model::TargetType::MemberUin
        }
    }

    /// Checks every `[[assignments]]` rule against each live tenant's zone: role
    /// configurations must exist (by id or name) and explicit UINs must be accounts of the
    /// organization. Returns the problems, by name; empty when all is well.
    pub async fn validate_rules(&self, rules: &rules::Rules) -> Result<Vec<String>, CicError> {
        let mut problems = Vec::new();
        if rules.is_empty() {
            return Ok(problems);
        }
        // Read now, not from the snapshot: a rule may name a department created since.
        let mut org: Option<organization::Organization> = None;
        for t in self.live_policies() {
            let (roles, uins) = rules.references(&t.name);
            let selections = rules.selections(&t.name);
            let known = self.role_configurations(&t.zone_id).await?;
            for r in roles {
                let found = match &r {
                    rules::RoleRef::Id(id) => known.iter().any(|k| &k.role_configuration_id == id),
                    rules::RoleRef::Name(n) => known.iter().any(|k| &k.role_configuration_name == n),
                };
                if !found {
                    problems.push(format!(
                        "tenant {}: role configuration {} does not exist in zone {}",
                        t.name,
                        match &r {
                            rules::RoleRef::Id(id) => id.clone(),
                            rules::RoleRef::Name(n) => format!("named {n:?}"),
                        },
                        t.zone_id
                    ));
                }
            }
            if (!uins.is_empty() || !selections.is_empty()) && org.is_none() {
                org = Some(self.fetch_organization().await?);
            }
            if let Some(o) = &org {
                for (label, sel) in &selections {
                    if let Err(e) = o.select(sel) {
                        problems.push(format!("tenant {}: {label}: {e}", t.name));
                    }
                }
                for u in uins {
                    if !o.contains(u) && Some(u) != self.manager_uin {
                        problems.push(format!(
                            "tenant {}: account {u} is not a member account of the organization",
                            t.name
                        ));
                    }
                }
            }
        }
        Ok(problems)
    }

    /// For each live tenant and each static rule, the accounts it resolves to now, with why
    /// (`check-config --online`). Reads the organization from Identity Center.
    pub async fn rule_accounts(&self) -> Result<Vec<String>, CicError> {
        let org = self.fetch_organization().await?;
        let rules = self.rules();
        let mut out = Vec::new();
        let mut tenants: Vec<&TenantPolicy> = self.live_policies().collect();
        tenants.sort_by(|a, b| a.name.cmp(&b.name));
        for t in tenants {
            for (label, targets) in rules.targets(&t.name) {
                let mut accounts = Vec::new();
                for target in &targets {
                    match org.accounts_of(target) {
                        Ok(list) => accounts.extend(list.into_iter().map(|(u, via)| format!("{u} ({via})"))),
                        Err(e) => accounts.push(format!("unresolved: {e}")),
                    }
                }
                out.push(format!(
                    "tenant {}: {label}: {} account(s){}{}",
                    t.name,
                    accounts.len(),
                    if accounts.is_empty() { "" } else { ": " },
                    accounts.join(", ")
                ));
            }
        }
        Ok(out)
    }
}
