//! Role assignments: a user or group given a role configuration on an account.

use time::OffsetDateTime;

use super::list::{ListQuery, TextFilter, list};
use super::tasks::TaskKind;
use super::zone::{Target, TargetKind};
use super::{ActionError, Outcome, State, value_error};
use crate::tencent::model::*;

/// Names and ranges the reference documents.
const MAX_ASSIGNMENTS_PER_CALL: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum PrincipalKind {
    User,
    Group,
}

impl PrincipalKind {
    pub fn of(p: PrincipalType) -> Self {
        match p {
            PrincipalType::User => Self::User,
            PrincipalType::Group => Self::Group,
        }
    }
    pub fn api(self) -> PrincipalType {
        match self {
            Self::User => PrincipalType::User,
            Self::Group => PrincipalType::Group,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct AssignmentKey {
    pub rc: String,
    pub target: Target,
    pub principal: PrincipalKind,
    pub principal_id: String,
}

#[derive(Debug, Clone)]
pub(super) struct Assignment {
    pub seq: u64,
    pub created: String,
    pub updated: String,
}

impl State {
    fn principal_name(&self, kind: PrincipalKind, id: &str) -> String {
        match kind {
            PrincipalKind::User => self.users.get(id).map(|u| u.info.user_name.clone()),
            PrincipalKind::Group => self.groups.get(id).map(|g| g.info.group_name.clone()),
        }
        .unwrap_or_default()
    }

    pub(super) fn has_assignments_of(&self, kind: PrincipalKind, id: &str) -> bool {
        self.assignments
            .keys()
            .any(|k| k.principal == kind && k.principal_id == id)
    }

    /// How ListRoleAssignments and the snapshot show an assignment.
    pub(super) fn role_assignment(&self, k: &AssignmentKey, a: &Assignment) -> RoleAssignments {
        RoleAssignments {
            role_configuration_id: k.rc.clone(),
            role_configuration_name: self.role_config_name(&k.rc),
            target_uin: k.target.uin,
            target_type: k.target.kind.api(),
            principal_id: k.principal_id.clone(),
            principal_type: k.principal.api(),
            principal_name: self.principal_name(k.principal, &k.principal_id),
            create_time: a.created.clone(),
            update_time: a.updated.clone(),
            target_name: self.target_name(&k.target),
        }
    }

    pub(super) fn create_role_assignment(
        &mut self,
        r: CreateRoleAssignment,
        now: OffsetDateTime,
    ) -> Outcome<CreateRoleAssignmentResponse> {
        self.zone(&r.zone_id)?;
        let entries = r
            .role_assignment_info
            .ok_or_else(|| ActionError::new("MissingParameter", "RoleAssignmentInfo is required"))?;
        if entries.is_empty() || entries.len() > MAX_ASSIGNMENTS_PER_CALL {
            return Err(value_error(format!(
                "RoleAssignmentInfo must have 1 to {MAX_ASSIGNMENTS_PER_CALL} entries"
            )));
        }
        // Validate every entry before starting any task: the call is all or nothing.
        let mut keys: Vec<AssignmentKey> = Vec::with_capacity(entries.len());
        for entry in entries {
            let missing =
                |field: &str| ActionError::new("MissingParameter", format!("RoleAssignmentInfo.{field} is required"));
            let rc = entry
                .role_configuration_id
                .ok_or_else(|| missing("RoleConfigurationId"))?;
            let principal_type = entry.principal_type.ok_or_else(|| missing("PrincipalType"))?;
            let principal_id = entry.principal_id.ok_or_else(|| missing("PrincipalId"))?;
            let target_type = entry.target_type.ok_or_else(|| missing("TargetType"))?;
            let target_uin = entry.target_uin.ok_or_else(|| missing("TargetUin"))?;
            self.role_config(&rc)?;
            match principal_type {
                PrincipalType::User => self.user(&principal_id).map(|_| ())?,
                PrincipalType::Group => self.group(&principal_id).map(|_| ())?,
            }
            let target = self.target(target_type, target_uin)?;
            let key = AssignmentKey {
                rc,
                target,
                principal: PrincipalKind::of(principal_type),
                principal_id,
            };
            let pending = self.pending(TaskKind::CreateAssignment, |t| {
                t.assignment_key().as_ref() == Some(&key)
            });
            if self.assignments.contains_key(&key) || pending || keys.contains(&key) {
                return Err(ActionError::new(
                    "FailedOperation.RoleConfigurationAuthorizationAlreadyExist",
                    "This role assignment already exists",
                ));
            }
            keys.push(key);
        }
        let in_flight = self
            .tasks
            .values()
            .filter(|t| t.kind == TaskKind::CreateAssignment && t.status == TaskState::InProgress)
            .count();
        if (self.assignments.len() + in_flight + keys.len()) as u64 > self.settings.assignment_limit {
            return Err(ActionError::new(
                "FailedOperation.RoleConfigurationAuthorizationOverLimit",
                "Too many role assignments",
            ));
        }
        let tasks = keys
            .into_iter()
            .map(|key| {
                let task = self.start_task(
                    TaskKind::CreateAssignment,
                    &key.rc,
                    key.target.clone(),
                    Some((key.principal, key.principal_id.clone())),
                    DeprovisionStrategy::None,
                    now,
                );
                task.info()
            })
            .collect();
        Ok(CreateRoleAssignmentResponse {
            tasks,
            request_id: String::new(),
        })
    }

    pub(super) fn delete_role_assignment(
        &mut self,
        r: DeleteRoleAssignment,
        now: OffsetDateTime,
    ) -> Outcome<DeleteRoleAssignmentResponse> {
        self.zone(&r.zone_id)?;
        let target = Target {
            kind: TargetKind::of(r.target_type),
            uin: r.target_uin,
        };
        let key = AssignmentKey {
            rc: r.role_configuration_id.clone(),
            target,
            principal: PrincipalKind::of(r.principal_type),
            principal_id: r.principal_id.clone(),
        };
        if !self.assignments.contains_key(&key) {
            return Err(ActionError::new(
                "ResourceNotFound.RoleConfigurationAuthorizationNotFound",
                "This role assignment does not exist",
            ));
        }
        // A second delete while the first is still running is accepted; whichever settles
        // second fails with RecordNotFound, as observed on the real service.
        let task = self.start_task(
            TaskKind::DeleteAssignment,
            &key.rc,
            key.target.clone(),
            Some((key.principal, key.principal_id.clone())),
            r.deprovision_strategy.unwrap_or_default(),
            now,
        );
        Ok(DeleteRoleAssignmentResponse {
            task: Some(task.info()),
            request_id: String::new(),
        })
    }

    pub(super) fn list_role_assignments(
        &mut self,
        r: ListRoleAssignments,
        _: OffsetDateTime,
    ) -> Outcome<ListRoleAssignmentsResponse> {
        self.zone(&r.zone_id)?;
        let text = TextFilter::new(r.filter.as_deref());
        let query = ListQuery {
            max_results: r.max_results,
            next_token: r.next_token.as_deref(),
            ..ListQuery::default()
        };
        let page = list(
            &query,
            self.assignments.iter(),
            |(k, _)| {
                r.role_configuration_id.as_ref().is_none_or(|rc| *rc == k.rc)
                    && r.target_type.is_none_or(|t| TargetKind::of(t) == k.target.kind)
                    && r.target_uin.is_none_or(|u| u == k.target.uin)
                    && r.principal_type.is_none_or(|p| PrincipalKind::of(p) == k.principal)
                    && r.principal_id.as_ref().is_none_or(|p| *p == k.principal_id)
                    && text.matches([self.role_config_name(&k.rc).as_str()])
            },
            |(k, a)| (a.seq, self.role_assignment(k, a)),
        )?;
        Ok(ListRoleAssignmentsResponse {
            next_token: page.next_token,
            total_counts: page.total,
            max_results: page.max_results,
            is_truncated: page.is_truncated,
            role_assignments: page.items,
            request_id: String::new(),
        })
    }
}
