//! `[[assignments]]` rules: which groups get which role configuration on which accounts.
//! Parsing and matching are pure; resolving role configuration names and "all accounts"
//! needs Identity Center and happens in the engine (with a short cache).

use regex::Regex;

use std::collections::BTreeMap;

use crate::config::{AssignmentConfig, ConfigError, DepartmentRef};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RoleRef {
    Id(String),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Uin(u64),
    AllAccounts,
    /// Accounts chosen by the organization: departments, tags, exclusions (resolved against
    /// the organization snapshot, so they follow it as it changes).
    Select(Selection),
}

/// Which member accounts a department or tag rule targets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Selection {
    /// Empty: every member account (then `tags` or `exclude` narrow it).
    pub departments: Vec<DepartmentRef>,
    pub include_sub_departments: bool,
    /// An account must carry every one.
    pub tags: BTreeMap<String, String>,
    pub exclude: Vec<u64>,
}

impl std::fmt::Display for Selection {
    /// The target as the rule writes it: "departments Production/Payments (with
    /// sub-departments), tags env=prod, except 100000000009".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.departments.is_empty() {
            parts.push("member accounts".to_owned());
        } else {
            let names: Vec<String> = self.departments.iter().map(ToString::to_string).collect();
            parts.push(format!(
                "departments {} ({} sub-departments)",
                names.join(", "),
                if self.include_sub_departments {
                    "with"
                } else {
                    "without"
                }
            ));
        }
        if !self.tags.is_empty() {
            let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.push(format!("tags {}", tags.join(", ")));
        }
        if !self.exclude.is_empty() {
            let ex: Vec<String> = self.exclude.iter().map(u64::to_string).collect();
            parts.push(format!("except {}", ex.join(", ")));
        }
        f.write_str(&parts.join(", "))
    }
}

#[derive(Debug)]
enum Selector {
    Name(String),
    Pattern(Regex),
    Convention(Regex),
}

#[derive(Debug)]
struct Rule {
    /// `assignments[i]: group = "…"`, for explanations.
    label: String,
    tenant: Option<String>,
    selector: Selector,
    role: Option<RoleRef>,
    targets: Vec<Target>,
}

#[derive(Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// Builds the rules; the configuration was validated, so errors here name a key too.
    pub fn new(configs: &[AssignmentConfig]) -> Result<Rules, ConfigError> {
        let mut rules = Vec::new();
        for (i, a) in configs.iter().enumerate() {
            let bad = |k: &str, e: regex::Error| ConfigError {
                key: format!("assignments[{i}].{k}"),
                reason: e.to_string(),
            };
            let label = match (&a.group, &a.group_pattern, &a.group_regex) {
                (Some(g), _, _) => format!("assignments[{i}]: group = {g:?}"),
                (_, Some(p), _) => format!("assignments[{i}]: group_pattern = {p:?}"),
                (_, _, Some(r)) => format!("assignments[{i}]: group_regex = {r:?}"),
                _ => format!("assignments[{i}]"),
            };
            let selector = if let Some(g) = &a.group {
                Selector::Name(g.trim().to_lowercase())
            } else if let Some(p) = &a.group_pattern {
                Selector::Pattern(Regex::new(&format!("^(?:{p})$")).map_err(|e| bad("group_pattern", e))?)
            } else if let Some(r) = &a.group_regex {
                Selector::Convention(Regex::new(r).map_err(|e| bad("group_regex", e))?)
            } else {
                continue;
            };
            let role = match (&a.role_configuration_id, &a.role_configuration) {
                (Some(id), _) => Some(RoleRef::Id(id.clone())),
                (None, Some(name)) => Some(RoleRef::Name(name.clone())),
                (None, None) => None,
            };
            let targets = if !a.target_uins.is_empty() {
                a.target_uins.iter().copied().map(Target::Uin).collect()
            } else if a.all_accounts && a.account_tags.is_empty() && a.exclude_uins.is_empty() {
                vec![Target::AllAccounts]
            } else {
                vec![Target::Select(Selection {
                    departments: a.departments.clone(),
                    include_sub_departments: a.include_sub_departments,
                    tags: a.account_tags.clone(),
                    exclude: a.exclude_uins.clone(),
                })]
            };
            rules.push(Rule {
                label,
                tenant: a.tenant.clone(),
                selector,
                role,
                targets,
            });
        }
        Ok(Rules { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// What the rules give a group of `tenant` named `display_name`, before resolution.
    pub fn wanted(&self, tenant: &str, display_name: &str) -> Vec<(RoleRef, Target)> {
        let mut out: Vec<(RoleRef, Target)> = self
            .matching(tenant, display_name)
            .into_iter()
            .map(|(_, role, target)| (role, target))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// [`Rules::wanted`] with the rule that gives each pair (its label), for explanations.
    pub fn matching(&self, tenant: &str, display_name: &str) -> Vec<(String, RoleRef, Target)> {
        let lower = display_name.trim().to_lowercase();
        let mut out = Vec::new();
        for r in &self.rules {
            if r.tenant.as_deref().is_some_and(|t| t != tenant) {
                continue;
            }
            match &r.selector {
                Selector::Name(n) if *n == lower => {}
                Selector::Pattern(re) if re.is_match(display_name.trim()) => {}
                Selector::Convention(re) => {
                    if let Some(c) = re.captures(display_name.trim()) {
                        let uin = c.name("uin").and_then(|m| m.as_str().parse::<u64>().ok());
                        let role = c.name("role").map(|m| m.as_str().to_owned());
                        if let (Some(uin), Some(role)) = (uin, role) {
                            out.push((r.label.clone(), RoleRef::Name(role), Target::Uin(uin)));
                        }
                    }
                    continue;
                }
                _ => continue,
            }
            if let Some(role) = &r.role {
                for t in &r.targets {
                    out.push((r.label.clone(), role.clone(), t.clone()));
                }
            }
        }
        out
    }

    /// Each static rule of `tenant` with its targets (`check-config --online`).
    pub fn targets(&self, tenant: &str) -> Vec<(String, Vec<Target>)> {
        self.rules
            .iter()
            .filter(|r| r.tenant.as_deref().is_none_or(|t| t == tenant) && r.role.is_some())
            .map(|r| (r.label.clone(), r.targets.clone()))
            .collect()
    }

    /// The department and tag selections of the rules of `tenant`, with each rule's label
    /// (validation, `check-config --online`, the refresh's fuse).
    pub fn selections(&self, tenant: &str) -> Vec<(String, Selection)> {
        self.rules
            .iter()
            .filter(|r| r.tenant.as_deref().is_none_or(|t| t == tenant))
            .flat_map(|r| {
                r.targets.iter().filter_map(|t| match t {
                    Target::Select(s) => Some((r.label.clone(), s.clone())),
                    _ => None,
                })
            })
            .collect()
    }

    /// Every role configuration and explicit account the static rules of `tenant` name (for
    /// validation at start-up).
    pub fn references(&self, tenant: &str) -> (Vec<RoleRef>, Vec<u64>) {
        let mut roles = Vec::new();
        let mut uins = Vec::new();
        for r in self
            .rules
            .iter()
            .filter(|r| r.tenant.as_deref().is_none_or(|t| t == tenant))
        {
            roles.extend(r.role.clone());
            uins.extend(r.targets.iter().filter_map(|t| match t {
                Target::Uin(u) => Some(*u),
                Target::AllAccounts | Target::Select(_) => None,
            }));
        }
        roles.sort();
        roles.dedup();
        uins.sort_unstable();
        uins.dedup();
        (roles, uins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(toml_rules: &str) -> Rules {
        use figment::providers::Format;
        #[derive(serde::Deserialize)]
        struct W {
            assignments: Vec<AssignmentConfig>,
        }
        let w: W = figment::Figment::from(figment::providers::Toml::string(toml_rules))
            .extract()
            .expect("toml");
        Rules::new(&w.assignments).expect("rules")
    }

    #[test]
    fn static_pattern_and_naming_convention_rules() {
        let r = rules(
            r#"
            [[assignments]]
            group = "Cloud Admins"
            role_configuration_id = "rc-admin0000001"
            target_uins = [1001, 1002]
            [[assignments]]
            group_pattern = "ops-.*"
            role_configuration = "ReadOnly"
            all_accounts = true
            [[assignments]]
            tenant = "other"
            group = "cloud admins"
            role_configuration_id = "rc-other0000001"
            target_uins = [9]
            [[assignments]]
            group_regex = '^CIC_(?P<uin>[0-9]+)_(?P<role>[A-Za-z0-9-]+)$'
            "#,
        );
        assert_eq!(
            r.wanted("corp", "cloud admins"),
            vec![
                (RoleRef::Id("rc-admin0000001".into()), Target::Uin(1001)),
                (RoleRef::Id("rc-admin0000001".into()), Target::Uin(1002)),
            ],
            "names match case-insensitively; another tenant's rule does not apply"
        );
        assert_eq!(
            r.wanted("corp", "ops-db"),
            vec![(RoleRef::Name("ReadOnly".into()), Target::AllAccounts)]
        );
        assert!(r.wanted("corp", "xops-db").is_empty(), "patterns match the whole name");
        assert_eq!(
            r.wanted("corp", "CIC_100000000001_Admin-Role"),
            vec![(RoleRef::Name("Admin-Role".into()), Target::Uin(100_000_000_001))]
        );
        assert!(r.wanted("corp", "CIC_notanumber_Admin").is_empty());
        let (roles, uins) = r.references("corp");
        assert_eq!(roles.len(), 2);
        assert_eq!(uins, vec![1001, 1002]);
    }
}
