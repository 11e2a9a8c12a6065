//! Role configurations (their deployments on accounts are in `deployments.rs`).

use time::OffsetDateTime;

use super::list::{ListQuery, TextFilter, list};
use super::{ActionError, Outcome, State, check_len, format_time, lower, valid_strict_name, value_error};
use crate::tencent::model::*;

/// Names and ranges the reference documents.
const SESSION_DURATION_DEFAULT: u64 = 3600;
const SESSION_DURATION_RANGE: std::ops::RangeInclusive<u64> = 900..=43200;

#[derive(Debug, Clone)]
pub(super) struct RoleConfig {
    pub seq: u64,
    pub info: RoleConfiguration,
}

impl State {
    /// Creates the role configurations the settings name, as if made when the zone was.
    pub(super) fn seed_role_configurations(&mut self) {
        for (id, name) in self.settings.seed_role_configurations.clone() {
            let seq = self.next_seq();
            let info = RoleConfiguration {
                role_configuration_id: id.clone(),
                role_configuration_name: name,
                description: "Seeded by the emulator".to_owned(),
                session_duration: Some(SESSION_DURATION_DEFAULT),
                relay_state: Some(String::new()),
                create_time: Some(self.created.clone()),
                update_time: Some(self.created.clone()),
                is_selected: None,
            };
            self.role_configs.insert(id, RoleConfig { seq, info });
        }
    }

    pub(super) fn role_config(&self, id: &str) -> Outcome<&RoleConfig> {
        self.role_configs.get(id).ok_or_else(|| {
            ActionError::new(
                "InvalidParameter.RoleConfigurationNotExist",
                format!("Role configuration {id} does not exist"),
            )
        })
    }

    /// The name of role configuration `id`; empty once it is deleted (tasks, assignments and
    /// deployments outlive it in answers).
    pub(super) fn role_config_name(&self, id: &str) -> String {
        self.role_configs
            .get(id)
            .map(|c| c.info.role_configuration_name.clone())
            .unwrap_or_default()
    }

    pub(super) fn create_role_configuration(
        &mut self,
        r: CreateRoleConfiguration,
        now: OffsetDateTime,
    ) -> Outcome<RoleConfigurationResponse> {
        self.zone(&r.zone_id)?;
        if !valid_strict_name(&r.role_configuration_name, 128) {
            return Err(ActionError::new(
                "InvalidParameter.ConfigurationNameFormatError",
                "RoleConfigurationName must be 1-128 characters of letters, digits and '-'",
            ));
        }
        check_len("Description", r.description.as_deref(), 1024)?;
        let duration = r.session_duration.unwrap_or(SESSION_DURATION_DEFAULT);
        if !SESSION_DURATION_RANGE.contains(&duration) {
            return Err(value_error("SessionDuration must be between 900 and 43200 seconds"));
        }
        let name = lower(&r.role_configuration_name);
        if self
            .role_configs
            .values()
            .any(|rc| lower(&rc.info.role_configuration_name) == name)
        {
            return Err(ActionError::new(
                "InvalidParameter.ConfigurationNameAlreadyExists",
                format!("RoleConfigurationName {} already exists", r.role_configuration_name),
            ));
        }
        if self.role_configs.len() as u64 >= self.settings.role_configuration_limit {
            return Err(ActionError::new(
                "FailedOperation.ConfigurationOverUpperLimit",
                "The zone has reached its role configuration quota",
            ));
        }
        let id = self.new_id("rc-");
        let seq = self.next_seq();
        let time = format_time(now);
        let info = RoleConfiguration {
            role_configuration_id: id.clone(),
            role_configuration_name: r.role_configuration_name,
            description: r.description.unwrap_or_default(),
            session_duration: Some(duration),
            relay_state: Some(r.relay_state.unwrap_or_default()),
            create_time: Some(time.clone()),
            update_time: Some(time),
            is_selected: None,
        };
        self.role_configs.insert(
            id,
            RoleConfig {
                seq,
                info: info.clone(),
            },
        );
        Ok(RoleConfigurationResponse {
            role_configuration_info: info,
            request_id: String::new(),
        })
    }

    pub(super) fn get_role_configuration(
        &mut self,
        r: GetRoleConfiguration,
        _: OffsetDateTime,
    ) -> Outcome<RoleConfigurationResponse> {
        self.zone(&r.zone_id)?;
        let info = self.role_config(&r.role_configuration_id)?.info.clone();
        Ok(RoleConfigurationResponse {
            role_configuration_info: info,
            request_id: String::new(),
        })
    }

    pub(super) fn list_role_configurations(
        &mut self,
        r: ListRoleConfigurations,
        _: OffsetDateTime,
    ) -> Outcome<ListRoleConfigurationsResponse> {
        self.zone(&r.zone_id)?;
        let text = TextFilter::new(r.filter.as_deref());
        let targets = r.filter_targets.clone().unwrap_or_default();
        let query = ListQuery {
            max_results: r.max_results,
            next_token: r.next_token.as_deref(),
            ..ListQuery::default()
        };
        let page = list(
            &query,
            self.role_configs.values(),
            |rc| text.matches([rc.info.role_configuration_name.as_str(), &rc.info.description]),
            |rc| {
                let mut info = rc.info.clone();
                if let (Some(principal), true) = (&r.principal_id, r.filter_targets.is_some()) {
                    let selected = self.assignments.keys().any(|k| {
                        k.rc == rc.info.role_configuration_id
                            && &k.principal_id == principal
                            && targets.contains(&k.target.uin)
                    });
                    info.is_selected = Some(selected);
                }
                (rc.seq, info)
            },
        )?;
        Ok(ListRoleConfigurationsResponse {
            total_counts: page.total,
            max_results: page.max_results,
            is_truncated: page.is_truncated,
            next_token: page.next_token,
            role_configurations: page.items,
            request_id: String::new(),
        })
    }

    pub(super) fn update_role_configuration(
        &mut self,
        r: UpdateRoleConfiguration,
        now: OffsetDateTime,
    ) -> Outcome<RoleConfigurationResponse> {
        self.zone(&r.zone_id)?;
        self.role_config(&r.role_configuration_id)?;
        check_len("NewDescription", r.new_description.as_deref(), 1024)?;
        if let Some(duration) = r.new_session_duration {
            if !SESSION_DURATION_RANGE.contains(&duration) {
                return Err(value_error("NewSessionDuration must be between 900 and 43200 seconds"));
            }
        }
        let time = format_time(now);
        let Some(rc) = self.role_configs.get_mut(&r.role_configuration_id) else {
            return Err(ActionError::new(
                "InvalidParameter.RoleConfigurationNotExist",
                "Role configuration does not exist",
            ));
        };
        let mut changed = false;
        if let Some(v) = r.new_description {
            changed |= rc.info.description != v;
            rc.info.description = v;
        }
        if let Some(v) = r.new_session_duration {
            changed |= rc.info.session_duration != Some(v);
            rc.info.session_duration = Some(v);
        }
        if let Some(v) = r.new_relay_state {
            changed |= rc.info.relay_state.as_deref() != Some(v.as_str());
            rc.info.relay_state = Some(v);
        }
        rc.info.update_time = Some(time.clone());
        let info = rc.info.clone();
        // Accounts where the old version is deployed now need ProvisionRoleConfiguration
        // again (the international site has no IsApply to push immediately).
        if changed {
            for ((rc_id, _), deployment) in self.deployments.iter_mut() {
                if *rc_id == r.role_configuration_id && deployment.status == DeploymentStatus::Deployed {
                    deployment.status = DeploymentStatus::DeployedRequired;
                    deployment.updated = time.clone();
                }
            }
        }
        Ok(RoleConfigurationResponse {
            role_configuration_info: info,
            request_id: String::new(),
        })
    }

    pub(super) fn delete_role_configuration(
        &mut self,
        r: DeleteRoleConfiguration,
        _: OffsetDateTime,
    ) -> Outcome<EmptyResponse> {
        self.zone(&r.zone_id)?;
        self.role_config(&r.role_configuration_id)?;
        if self.deployments.keys().any(|(rc, _)| *rc == r.role_configuration_id) {
            return Err(ActionError::new(
                "FailedOperation.RoleConfigurationProvisioningAlreadyDeployed",
                "The role configuration is still deployed on an account",
            ));
        }
        self.role_configs.remove(&r.role_configuration_id);
        Ok(EmptyResponse::default())
    }
}
