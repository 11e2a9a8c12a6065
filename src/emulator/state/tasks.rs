//! Asynchronous tasks: started by assignment and deployment actions, applied ("settled") once
//! their delay has passed, and read back by GetTaskStatus and ListTasks.

use std::time::Duration;

use rand::Rng;
use time::OffsetDateTime;

use super::assignments::{Assignment, AssignmentKey, PrincipalKind};
use super::list::{ListQuery, list};
use super::zone::{Target, TargetKind};
use super::{ActionError, Outcome, State, format_time, value_error};
use crate::tencent::model::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TaskKind {
    CreateAssignment,
    DeleteAssignment,
    Provision,
    Dismantle,
}

impl TaskKind {
    fn task_type(self) -> &'static str {
        match self {
            Self::CreateAssignment => task_type::CREATE_ROLE_ASSIGNMENT,
            Self::DeleteAssignment => task_type::DELETE_ROLE_ASSIGNMENT,
            Self::Provision => task_type::PROVISION_ROLE_CONFIGURATION,
            Self::Dismantle => task_type::DEPROVISION_ROLE_CONFIGURATION,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Task {
    id: String,
    pub seq: u64,
    pub kind: TaskKind,
    pub rc: String,
    rc_name: String,
    pub target: Target,
    principal: Option<(PrincipalKind, String)>,
    deprovision: DeprovisionStrategy,
    pub status: TaskState,
    failure_reason: Option<String>,
    due: OffsetDateTime,
    /// Decided when the task is created, so a test's "fail tasks on this account" applies to
    /// exactly the tasks started while it was set.
    scripted_failure: Option<Option<String>>,
    /// The fault the request that started this task met (its answer was lost or late), if any.
    request_fault: Option<&'static str>,
    created: String,
    settled: Option<String>,
}

impl Task {
    /// The assignment an assignment task creates or deletes.
    pub(super) fn assignment_key(&self) -> Option<AssignmentKey> {
        self.principal.as_ref().map(|(kind, id)| AssignmentKey {
            rc: self.rc.clone(),
            target: self.target.clone(),
            principal: *kind,
            principal_id: id.clone(),
        })
    }

    pub(super) fn info(&self) -> TaskInfo {
        let (principal_type, principal_id) = match &self.principal {
            Some((kind, id)) => (kind.api(), id.clone()),
            None => (PrincipalType::default(), String::new()),
        };
        TaskInfo {
            task_id: self.id.clone(),
            role_configuration_id: self.rc.clone(),
            role_configuration_name: self.rc_name.clone(),
            target_uin: self.target.uin,
            target_type: self.target.kind.api(),
            principal_id,
            principal_type,
            task_type: self.kind.task_type().to_owned(),
            status: self.status,
            failure_reason: self.failure_reason.clone(),
        }
    }

    pub(super) fn provisioning_task(&self) -> RoleProvisioningsTask {
        RoleProvisioningsTask {
            task_id: self.id.clone(),
            role_configuration_id: self.rc.clone(),
            role_configuration_name: self.rc_name.clone(),
            target_uin: self.target.uin,
            target_type: Some(self.target.kind.api()),
            task_type: Some(self.kind.task_type().to_owned()),
            task_status: Some(self.status),
        }
    }
}

/// A task as the emulator sees it (`GET /_emulator/tasks`): the API's fields plus who caused
/// the outcome, so an outside observer can tell a failure the emulator injected from one the
/// client provoked. Not part of the real API.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskRecord {
    #[serde(flatten)]
    pub info: TaskInfo,
    /// `DropConnection` or `Slow` when the answer to the call that started the task was cut or
    /// late (the task runs anyway); `None` when the caller got its answer in time.
    pub request_fault: Option<&'static str>,
    /// The task failed because `fail_tasks_on_account` scripted it, not because of the caller.
    pub scripted_failure: bool,
    pub create_time: String,
    pub settle_time: Option<String>,
}

impl State {
    pub(super) fn pending(&self, kind: TaskKind, matches: impl Fn(&Task) -> bool) -> bool {
        self.tasks
            .values()
            .any(|t| t.kind == kind && t.status == TaskState::InProgress && matches(t))
    }

    pub(super) fn start_task(
        &mut self,
        kind: TaskKind,
        rc: &str,
        target: Target,
        principal: Option<(PrincipalKind, String)>,
        deprovision: DeprovisionStrategy,
        now: OffsetDateTime,
    ) -> Task {
        let id = self.new_id("t-");
        let seq = self.next_seq();
        let rc_name = self.role_config_name(rc);
        let scripted_failure = self.failing_targets.get(&target.uin).cloned();
        let slow = self.slow_targets.get(&target.uin).copied().unwrap_or_default();
        let task = Task {
            id: id.clone(),
            seq,
            kind,
            rc: rc.to_owned(),
            rc_name,
            target,
            principal,
            deprovision,
            status: TaskState::InProgress,
            failure_reason: None,
            due: now + self.settings.task_delay + self.jitter() + slow,
            scripted_failure,
            request_fault: None,
            created: format_time(now),
            settled: None,
        };
        self.tasks.insert(id, task.clone());
        task
    }

    fn jitter(&mut self) -> Duration {
        let max = u64::try_from(self.settings.task_delay_jitter.as_millis()).unwrap_or(u64::MAX);
        if max == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(self.rng.random_range(0..=max))
    }

    /// Records that the answer to the request which started every task from sequence `since`
    /// on met `fault` (it was dropped or late).
    pub fn mark_tasks_since(&mut self, since: u64, fault: &'static str) {
        for task in self.tasks.values_mut().filter(|t| t.seq >= since) {
            task.request_fault = Some(fault);
        }
    }

    /// Every task, oldest first, with the emulator-side facts of [`TaskRecord`].
    pub fn task_records(&self) -> Vec<TaskRecord> {
        let mut tasks: Vec<&Task> = self.tasks.values().collect();
        tasks.sort_by_key(|t| t.seq);
        tasks
            .into_iter()
            .map(|t| TaskRecord {
                info: t.info(),
                request_fault: t.request_fault,
                scripted_failure: t.scripted_failure.is_some(),
                create_time: t.created.clone(),
                settle_time: t.settled.clone(),
            })
            .collect()
    }

    pub(super) fn get_task_status(&mut self, r: GetTaskStatus, _: OffsetDateTime) -> Outcome<TaskStatusResponse> {
        self.zone(&r.zone_id)?;
        let task = self.tasks.get(&r.task_id).ok_or_else(|| {
            ActionError::new(
                "ResourceNotFound.RoleConfigurationTaskNotFound",
                format!("Task {} does not exist", r.task_id),
            )
        })?;
        Ok(TaskStatusResponse {
            task_status: TaskStatus {
                status: task.status,
                task_id: task.id.clone(),
                task_type: task.kind.task_type().to_owned(),
                failure_reason: task.failure_reason.clone().unwrap_or_default(),
            },
            request_id: String::new(),
        })
    }

    /// CAM user-sync tasks are not emulated, so no id is ever known here; role tasks belong to
    /// the other family and are not found either (INFERRED in the reference).
    pub(super) fn get_provisioning_task_status(
        &mut self,
        r: GetProvisioningTaskStatus,
        _: OffsetDateTime,
    ) -> Outcome<TaskStatusResponse> {
        self.zone(&r.zone_id)?;
        Err(ActionError::new(
            "ResourceNotFound.UserProvisioningTaskNotFound",
            format!("Task {} does not exist", r.task_id),
        ))
    }

    pub(super) fn list_tasks(&mut self, r: ListTasks, _: OffsetDateTime) -> Outcome<ListTasksResponse> {
        self.zone(&r.zone_id)?;
        if r.status == Some(TaskState::Unknown) {
            return Err(value_error("Status must be InProgress, Success or Failed"));
        }
        let query = ListQuery {
            max_results: r.max_results,
            next_token: r.next_token.as_deref(),
            ..ListQuery::default()
        };
        let page = list(
            &query,
            self.tasks.values(),
            |t| {
                r.principal_id
                    .as_ref()
                    .is_none_or(|p| t.principal.as_ref().is_some_and(|(_, id)| id == p))
                    && r.principal_type
                        .is_none_or(|p| t.principal.as_ref().is_some_and(|(k, _)| *k == PrincipalKind::of(p)))
                    && r.target_uin.is_none_or(|u| t.target.uin == u)
                    && r.target_type.is_none_or(|tt| t.target.kind == TargetKind::of(tt))
                    && r.role_configuration_id.as_ref().is_none_or(|rc| *rc == t.rc)
                    && r.status.is_none_or(|s| t.status == s)
                    && r.task_type.as_ref().is_none_or(|tt| tt == t.kind.task_type())
            },
            |t| (t.seq, t.info()),
        )?;
        Ok(ListTasksResponse {
            next_token: page.next_token,
            total_counts: page.total,
            max_results: page.max_results,
            is_truncated: page.is_truncated,
            tasks: page.items,
            request_id: String::new(),
        })
    }

    /// Applies every task whose delay has passed, oldest first.
    pub fn settle(&mut self, now: OffsetDateTime) {
        let mut due: Vec<(u64, String)> = self
            .tasks
            .values()
            .filter(|t| t.status == TaskState::InProgress && t.due <= now)
            .map(|t| (t.seq, t.id.clone()))
            .collect();
        due.sort();
        for (_, id) in due {
            let Some(task) = self.tasks.get(&id).cloned() else {
                continue;
            };
            let (status, reason) = self.apply(&task, now);
            if let Some(stored) = self.tasks.get_mut(&id) {
                stored.status = status;
                stored.failure_reason = reason;
                stored.settled = Some(format_time(task.due.min(now)));
            }
        }
    }

    fn apply(&mut self, task: &Task, now: OffsetDateTime) -> (TaskState, Option<String>) {
        let time = format_time(now);
        let deployment_key = (task.rc.clone(), task.target.clone());
        if let Some(reason) = &task.scripted_failure {
            if task.kind == TaskKind::Provision {
                self.upsert_deployment(deployment_key, DeploymentStatus::DeployFailed, &time);
            }
            return (TaskState::Failed, Some(reason.clone().unwrap_or_default()));
        }
        let record_not_found = |what: &str| (TaskState::Failed, Some(format!("RecordNotFound: {what}")));
        match task.kind {
            TaskKind::CreateAssignment => {
                let Some(key) = task.assignment_key() else {
                    return record_not_found("principal");
                };
                let principal_exists = match key.principal {
                    PrincipalKind::User => self.users.contains_key(&key.principal_id),
                    PrincipalKind::Group => self.groups.contains_key(&key.principal_id),
                };
                if !principal_exists {
                    return record_not_found("principal was deleted");
                }
                if !self.role_configs.contains_key(&key.rc) {
                    return record_not_found("role configuration was deleted");
                }
                let seq = self.next_seq();
                self.assignments.insert(
                    key,
                    Assignment {
                        seq,
                        created: time.clone(),
                        updated: time.clone(),
                    },
                );
                // Assigning deploys the role configuration's current version to the account.
                self.upsert_deployment(deployment_key, DeploymentStatus::Deployed, &time);
                (TaskState::Success, None)
            }
            TaskKind::DeleteAssignment => {
                let Some(key) = task.assignment_key() else {
                    return record_not_found("principal");
                };
                if self.assignments.remove(&key).is_none() {
                    return record_not_found("role assignment was already deleted");
                }
                let last_on_account = !self
                    .assignments
                    .keys()
                    .any(|k| k.rc == key.rc && k.target == key.target);
                if task.deprovision == DeprovisionStrategy::DeprovisionForLastRoleAssignmentOnAccount && last_on_account
                {
                    self.deployments.remove(&deployment_key);
                }
                (TaskState::Success, None)
            }
            TaskKind::Provision => {
                if !self.role_configs.contains_key(&task.rc) {
                    return record_not_found("role configuration was deleted");
                }
                self.upsert_deployment(deployment_key, DeploymentStatus::Deployed, &time);
                (TaskState::Success, None)
            }
            TaskKind::Dismantle => {
                if self
                    .assignments
                    .keys()
                    .any(|k| k.rc == task.rc && k.target == task.target)
                {
                    return (
                        TaskState::Failed,
                        Some("RoleConfigurationAuthorizationExist: assignments were added meanwhile".to_owned()),
                    );
                }
                if self.deployments.remove(&deployment_key).is_none() {
                    return record_not_found("deployment was already removed");
                }
                (TaskState::Success, None)
            }
        }
    }
}
