//! The zone itself and the organization's accounts that role configurations target (the
//! organization's department tree and its member accounts are in `organization`).

use time::OffsetDateTime;

use super::{ActionError, Outcome, State};
use crate::tencent::model::*;

/// Names and ranges the reference documents.
const SYSTEM_POLICY_PER_ROLE_CONFIGURATION_QUOTA: u64 = 20;

/// An account of the organization: the manager (admin) account or a member.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Target {
    pub kind: TargetKind,
    pub uin: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum TargetKind {
    Manager,
    Member,
}

impl TargetKind {
    pub fn of(t: TargetType) -> Self {
        match t {
            TargetType::ManagerUin => Self::Manager,
            TargetType::MemberUin => Self::Member,
        }
    }
    pub fn api(self) -> TargetType {
        match self {
            Self::Manager => TargetType::ManagerUin,
            Self::Member => TargetType::MemberUin,
        }
    }
}

impl State {
    pub(super) fn zone(&self, zone_id: &str) -> Outcome<()> {
        if zone_id == self.settings.zone_id {
            Ok(())
        } else {
            Err(ActionError::new(
                "FailedOperation.ZoneIdNotExist",
                format!("Zone {zone_id} does not exist"),
            ))
        }
    }

    pub(super) fn target(&self, target_type: TargetType, uin: u64) -> Outcome<Target> {
        let exists = match target_type {
            TargetType::ManagerUin => uin == self.settings.manager_uin,
            TargetType::MemberUin => self.org.is_member(uin),
        };
        if exists {
            Ok(Target {
                kind: TargetKind::of(target_type),
                uin,
            })
        } else {
            Err(ActionError::new(
                "FailedOperation.OrganizationMemberNotExist",
                format!("Account {uin} is not a {target_type:?} of the organization"),
            ))
        }
    }

    pub(super) fn target_name(&self, target: &Target) -> String {
        match target.kind {
            TargetKind::Manager => format!("manager-{}", target.uin),
            TargetKind::Member => format!("member-{}", target.uin),
        }
    }

    pub(super) fn describe_identity_center(
        &mut self,
        _: DescribeIdentityCenter,
        _: OffsetDateTime,
    ) -> Outcome<DescribeIdentityCenterResponse> {
        Ok(DescribeIdentityCenterResponse {
            zone_id: self.settings.zone_id.clone(),
            zone_name: self.settings.zone_name.clone(),
            service_status: "Enabled".to_owned(),
            scim_sync_status: if self.settings.scim_sync_enabled {
                "Enabled"
            } else {
                "Disabled"
            }
            .to_owned(),
            create_time: self.created.clone(),
            update_time: self.created.clone(),
            request_id: String::new(),
        })
    }

    pub(super) fn get_zone_statistics(
        &mut self,
        r: GetZoneStatistics,
        _: OffsetDateTime,
    ) -> Outcome<GetZoneStatisticsResponse> {
        self.zone(&r.zone_id)?;
        Ok(GetZoneStatisticsResponse {
            zone_statistics: Some(ZoneStatistics {
                user_quota: self.settings.user_limit,
                group_quota: self.settings.group_limit,
                role_configuration_quota: self.settings.role_configuration_limit,
                system_policy_per_role_configuration_quota: SYSTEM_POLICY_PER_ROLE_CONFIGURATION_QUOTA,
                user_count: self.users.len() as u64,
                group_count: self.groups.len() as u64,
                role_configuration_count: self.role_configs.len() as u64,
                user_provisioning_count: 0,
                role_configuration_sync_count: self.deployments.len() as u64,
            }),
            request_id: String::new(),
        })
    }
}
