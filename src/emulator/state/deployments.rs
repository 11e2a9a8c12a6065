//! Deployments: where a role configuration is provisioned on an account.

use time::OffsetDateTime;

use super::list::{ListQuery, TextFilter, list};
use super::tasks::{Task, TaskKind};
use super::zone::{Target, TargetKind};
use super::{ActionError, Outcome, State, value_error};
use crate::tencent::model::*;

#[derive(Debug, Clone)]
pub(super) struct Deployment {
    pub seq: u64,
    pub status: DeploymentStatus,
    pub created: String,
    pub updated: String,
}

impl State {
    /// How ListRoleConfigurationProvisionings and the snapshot show a deployment.
    pub(super) fn provisioning(&self, rc: &str, target: &Target, d: &Deployment) -> RoleConfigurationProvisionings {
        RoleConfigurationProvisionings {
            deployment_status: d.status,
            role_configuration_id: rc.to_owned(),
            role_configuration_name: self.role_config_name(rc),
            target_uin: target.uin,
            target_name: self.target_name(target),
            create_time: d.created.clone(),
            update_time: d.updated.clone(),
            target_type: target.kind.api(),
        }
    }

    pub(super) fn upsert_deployment(&mut self, key: (String, Target), status: DeploymentStatus, time: &str) {
        let seq = self.next_seq();
        let entry = self.deployments.entry(key).or_insert_with(|| Deployment {
            seq,
            status,
            created: time.to_owned(),
            updated: time.to_owned(),
        });
        entry.status = status;
        entry.updated = time.to_owned();
    }

    pub(super) fn provision_role_configuration(
        &mut self,
        r: ProvisionRoleConfiguration,
        now: OffsetDateTime,
    ) -> Outcome<RoleProvisioningTaskResponse> {
        self.zone(&r.zone_id)?;
        self.role_config(&r.role_configuration_id)?;
        let target = self.target(r.target_type, r.target_uin)?;
        let task = self.start_task(
            TaskKind::Provision,
            &r.role_configuration_id,
            target,
            None,
            DeprovisionStrategy::None,
            now,
        );
        Ok(RoleProvisioningTaskResponse {
            task: task.provisioning_task(),
            request_id: String::new(),
        })
    }

    pub(super) fn dismantle_role_configuration(
        &mut self,
        r: DismantleRoleConfiguration,
        now: OffsetDateTime,
    ) -> Outcome<RoleProvisioningTaskResponse> {
        self.zone(&r.zone_id)?;
        self.role_config(&r.role_configuration_id)?;
        let target = self.target(r.target_type, r.target_uin)?;
        let deployment = (r.role_configuration_id.clone(), target.clone());
        if !self.deployments.contains_key(&deployment) {
            return Err(ActionError::new(
                "ResourceNotFound.RoleConfigurationProvisioningNotFound",
                "The role configuration is not deployed on this account",
            ));
        }
        if self
            .assignments
            .keys()
            .any(|k| k.rc == r.role_configuration_id && k.target == target)
        {
            return Err(ActionError::new(
                "FailedOperation.RoleConfigurationAuthorizationExist",
                "Role assignments of this role configuration still exist on this account",
            ));
        }
        let busy = |t: &Task| t.rc == r.role_configuration_id && t.target == target;
        if self.pending(TaskKind::Dismantle, busy) || self.pending(TaskKind::Provision, busy) {
            return Err(ActionError::new(
                "FailedOperation.RoleConfigurationProvisioningStatusError",
                "The deployment is being changed by another task",
            ));
        }
        let task = self.start_task(
            TaskKind::Dismantle,
            &r.role_configuration_id,
            target,
            None,
            DeprovisionStrategy::None,
            now,
        );
        Ok(RoleProvisioningTaskResponse {
            task: task.provisioning_task(),
            request_id: String::new(),
        })
    }

    pub(super) fn list_role_configuration_provisionings(
        &mut self,
        r: ListRoleConfigurationProvisionings,
        _: OffsetDateTime,
    ) -> Outcome<ListRoleConfigurationProvisioningsResponse> {
        self.zone(&r.zone_id)?;
        if r.deployment_status == Some(DeploymentStatus::Unknown) {
            return Err(value_error(
                "DeploymentStatus must be Deployed, DeployedRequired or DeployFailed",
            ));
        }
        let text = TextFilter::new(r.filter.as_deref());
        let query = ListQuery {
            max_results: r.max_results,
            next_token: r.next_token.as_deref(),
            ..ListQuery::default()
        };
        let page = list(
            &query,
            self.deployments.iter(),
            |((rc, target), d)| {
                r.role_configuration_id.as_ref().is_none_or(|id| id == rc)
                    && r.target_type.is_none_or(|tt| TargetKind::of(tt) == target.kind)
                    && r.target_uin.is_none_or(|u| u == target.uin)
                    && r.deployment_status.is_none_or(|s| s == d.status)
                    && text.matches([self.role_config_name(rc).as_str()])
            },
            |((rc, target), d)| (d.seq, self.provisioning(rc, target, d)),
        )?;
        Ok(ListRoleConfigurationProvisioningsResponse {
            next_token: page.next_token,
            total_counts: page.total,
            max_results: page.max_results,
            is_truncated: page.is_truncated,
            role_configuration_provisionings: page.items,
            request_id: String::new(),
        })
    }
}
