//! What each operation kind does in Identity Center.
//!
//! Every function is safe to run again from the start: after a crash, a lost answer or a
//! retry, creates look the object up (by name, recognising our marker in its Description)
//! before creating, deletes treat "not found" as done, and membership calls treat "already a
//! member" / "not a member" as done.

use std::sync::Mutex;
use std::time::Duration;

use super::mapping::{self, GroupFields, UserFields};
use super::{Engine, Failure, Step, TenantPolicy, op_error};
use crate::config::{OnConflict, OnUsernameChange};
use crate::scim::schema::ResourceKind;
use crate::store::audit::Source;
use crate::store::{AuditEntry, CicLink, LinkWrite, Op, OpError, OpKind, Origin, TaskRow, TaskStatus, Write};
use crate::tencent::model::{
    AddUserToGroup, CreateGroup, CreateUser, DeleteGroup, DeleteRoleAssignment, DeleteUser, GetGroup, GetUser,
    GroupInfo, ListGroupMembers, ListGroups, ListJoinedGroupsForUser, ListRoleAssignments, ListUsers, ObjectType,
    PrincipalType, RemoveUserFromGroup, UpdateGroup, UpdateUser, UpdateUserStatus, UserInfo, UserStatus,
};
use crate::tencent::model::{
    CreateRoleAssignment, DeprovisionStrategy, GetTaskStatus, ListTasks, ProvisionRoleConfiguration,
    RoleAssignmentInfo, TaskState, task_type,
};
use crate::tencent::{CicError, Code, ErrorClass};

mod assign;
mod deploy;
mod group;
mod member;
mod user;

/// Why an attempt stopped before its end: it failed, or it must come back later (which the
/// engine records as [`Step::Again`], not as a failure). Inside `exec` both leave a function
/// early the same way, through `?` and `return Err(..)`.
enum Stop {
    Failed(Failure),
    Again {
        after: Duration,
        note: String,
        on_task: bool,
    },
}

impl Stop {
    /// Come back after `after`: another operation must happen first.
    fn again(after: Duration, note: String) -> Stop {
        Stop::Again {
            after,
            note,
            on_task: false,
        }
    }

    /// Come back after `after`: an Identity Center task this operation follows still runs.
    fn on_task(after: Duration, note: String) -> Stop {
        Stop::Again {
            after,
            note,
            on_task: true,
        }
    }
}

/// Identity Center refused the resource itself (see [`Failure::Refused`]).
fn refused(e: OpError) -> Stop {
    Stop::Failed(Failure::Refused(e))
}

impl<E: Into<Failure>> From<E> for Stop {
    fn from(e: E) -> Self {
        Stop::Failed(e.into())
    }
}

type Outcome = Result<String, Stop>;

/// Which resource an operation creates when it runs without a link (for rolling back a
/// refused create).
pub fn created_kind(op: &Op) -> Option<ResourceKind> {
    match op.kind {
        OpKind::UserSync => Some(ResourceKind::User),
        OpKind::GroupSync => Some(ResourceKind::Group),
        _ => None,
    }
}

/// Runs `op`; returns its outcome and the link it established or updated, which the engine
/// saves in the same transaction as the outcome (one synced commit per operation).
pub async fn execute(engine: &Engine, op: &Op) -> (Result<Step, Failure>, Vec<Write>) {
    let Some(tenant) = engine.tenant(&op.tenant).cloned() else {
        let refused = Failure::Refused(OpError {
            code: None,
            message: format!("tenant {} is no longer configured", op.tenant),
            request_id: None,
        });
        return (Err(refused), Vec::new());
    };
    let x = Exec {
        engine,
        op,
        tenant,
        writes: Mutex::new(Vec::new()),
    };
    let (outcome, calls) = crate::tencent::record::recording(async {
        match op.kind {
            OpKind::UserSync => x.user_sync().await,
            OpKind::UserDelete => x.user_delete().await,
            OpKind::GroupSync => x.group_sync().await,
            OpKind::GroupDelete => x.group_delete().await,
            OpKind::MemberSync => x.member_sync().await,
            OpKind::AssignSync => x.assign_sync().await,
            OpKind::Deploy => x.deploy().await,
        }
    })
    .await;
    if !calls.is_empty() {
        let cause = x.cause().await;
        for call in calls {
            for entry in x.call_entries(call, &cause) {
                x.push(Write::Audit(entry));
            }
        }
    }
    let writes = std::mem::take(&mut *x.writes.lock().unwrap_or_else(|p| p.into_inner()));
    let outcome = match outcome {
        Ok(result) => Ok(Step::Done(result)),
        Err(Stop::Again { after, note, on_task }) => Ok(Step::Again { after, note, on_task }),
        Err(Stop::Failed(f)) => Err(f),
    };
    (outcome, writes)
}

struct Exec<'a> {
    engine: &'a Engine,
    op: &'a Op,
    tenant: TenantPolicy,
    /// What this attempt established (the latest link, tasks, managed assignments), saved
    /// with its outcome.
    writes: Mutex<Vec<Write>>,
}

impl Exec<'_> {
    /// Why this operation runs, for the audit trail: the operation, and for an assignment
    /// sync the rules that match the group's name (by index and match).
    async fn cause(&self) -> serde_json::Value {
        let op = self.op;
        let mut cause = serde_json::json!({
            "operation": op.id,
            "kind": op.kind.as_str(),
            "queuedAt": op.created_at,
            "queuedBy": op.cause,
        });
        if op.kind == OpKind::AssignSync {
            if let Ok(Some(group)) = self
                .engine
                .store
                .get(ResourceKind::Group, &op.tenant, &op.resource_id)
                .await
            {
                let name = group
                    .doc
                    .get("displayName")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                let rules: Vec<String> = self
                    .engine
                    .rules()
                    .matching(&op.tenant, name)
                    .into_iter()
                    .map(|(label, _, _)| label)
                    .collect();
                cause["group"] = name.into();
                cause["rules"] = rules.into();
            }
        }
        cause
    }

    /// The audit records of one Identity Center call this attempt made: one per target (a
    /// batch of role assignments has several, each with its task).
    fn call_entries(&self, call: crate::tencent::record::CallRecord, cause: &serde_json::Value) -> Vec<AuditEntry> {
        let op = self.op;
        call.targets
            .into_iter()
            .map(|target| {
                let account = target.fields.get("TargetUin").and_then(|v| v.as_u64());
                let entry = AuditEntry::new(&op.tenant, Source::Cic, &Origin::system("engine"), call.action)
                    .account(account)
                    .detail(serde_json::json!({
                        "target": target.fields,
                        "requestId": call.request_id,
                        "outcome": if call.error_code.is_some() { "error" } else { "ok" },
                        "errorCode": call.error_code,
                        "taskId": target.task_id,
                        "cause": cause,
                    }));
                match op.kind {
                    OpKind::UserSync | OpKind::UserDelete => entry.user(&op.resource_id),
                    OpKind::GroupSync | OpKind::GroupDelete | OpKind::AssignSync => entry.group(&op.resource_id),
                    OpKind::MemberSync => match &op.related_id {
                        Some(u) => entry.group(&op.resource_id).user(u),
                        None => entry.group(&op.resource_id),
                    },
                    OpKind::Deploy => entry,
                }
            })
            .collect()
    }

    fn zone(&self) -> String {
        self.tenant.zone_id.clone()
    }

    fn marker(&self) -> String {
        mapping::marker(&self.tenant.name, &self.op.resource_id)
    }

    async fn save_link(
        &self,
        kind: ResourceKind,
        cic_id: &str,
        cic_name: &str,
        synced: serde_json::Value,
    ) -> Result<(), Stop> {
        let link = CicLink {
            cic_id: cic_id.to_owned(),
            cic_name: cic_name.to_owned(),
            synced,
        };
        // Saved with the attempt's outcome, in the same commit. Deferring it is safe: an
        // attempt that dies before that commit is repeated, and its creates find their object
        // again by the marker.
        let mut writes = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        writes.retain(|w| !matches!(w, Write::Link(_)));
        writes.push(Write::Link(LinkWrite {
            tenant: self.tenant.name.clone(),
            kind,
            scim_id: self.op.resource_id.clone(),
            link,
        }));
        Ok(())
    }

    /// Forgets the resource's link, with the attempt's outcome like every link write: a
    /// worker whose lease expired must not delete a link the operation's new owner saved.
    fn unlink(&self, kind: ResourceKind) {
        let mut writes = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        writes.retain(|w| !matches!(w, Write::Link(_)));
        writes.push(Write::Unlink {
            tenant: self.tenant.name.clone(),
            kind,
            scim_id: self.op.resource_id.clone(),
        });
    }
}

// ---- role assignments and deployments ---------------------------------------------------------

/// A task that ends Failed with an empty FailureReason (an account that just joined the
/// organization, reference 0.2) is started again this many times before the operation fails.
const EMPTY_FAILURE_RETRIES: usize = 3;
/// An operation polling its tasks gives up after this many polls (about half an hour with
/// the capped backoff below).
const MAX_POLLS: i64 = 200;

/// What Identity Center holds for a user, in the terms a link records as synced.
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

/// Poll delay after `polls` polls: 0.3 s, then 1.5 times longer each time, capped at 10 s.
/// Tasks usually end within seconds, so a gentle growth notices the end soon after it
/// happens, while a long task costs a poll every 10 s of the 220/s GetTaskStatus budget.
fn poll_delay(polls: i64) -> Duration {
    let exp = i32::try_from(polls.clamp(0, 10)).unwrap_or(10);
    Duration::from_millis(300)
        .mul_f64(1.5f64.powi(exp))
        .min(Duration::from_secs(10))
}

impl Exec<'_> {
    fn push(&self, w: Write) {
        self.writes.lock().unwrap_or_else(|p| p.into_inner()).push(w);
    }

    fn task_row(&self, task: &TaskInfoLike, scim_group: Option<&str>) -> TaskRow {
        let now = crate::store::format_time(self.engine.now());
        TaskRow {
            tenant: self.tenant.name.clone(),
            task_id: task.task_id.clone(),
            task_type: task.task_type.clone(),
            scim_group: scim_group.map(str::to_owned),
            role_configuration_id: task.role_configuration_id.clone(),
            target_uin: task.target_uin,
            status: task.status,
            failure_reason: task.failure_reason.clone(),
            polls: 0,
            created_at: now.clone(),
            updated_at: now,
        }
    }

    /// Polls the given in-progress tasks once. Returns the updated rows (also queued as writes).
    /// Nothing is recorded unless every poll answered: a status recorded without the
    /// assignment write that its caller makes for a finished task (an attempt that failed on a
    /// later poll) would leave the task ended and the assignment record stale for good.
    async fn poll_tasks(&self, tasks: Vec<TaskRow>) -> Result<Vec<TaskRow>, Stop> {
        let mut out = Vec::with_capacity(tasks.len());
        for mut t in tasks {
            let r = self
                .engine
                .client
                .call(&GetTaskStatus {
                    zone_id: self.zone(),
                    task_id: t.task_id.clone(),
                })
                .await;
            match r {
                Ok(answer) => {
                    t.status = answer.task_status.status.into();
                    let reason = answer.task_status.failure_reason;
                    t.failure_reason = (!reason.is_empty()).then_some(reason);
                    if t.status != TaskStatus::InProgress {
                        let started =
                            time::OffsetDateTime::parse(&t.created_at, &time::format_description::well_known::Rfc3339);
                        if let Ok(started) = started {
                            let took = (self.engine.now() - started).unsigned_abs();
                            crate::prometheus::task_finished(&t.task_type, t.status.as_str(), took);
                        }
                    }
                }
                Err(e) if e.is(Code::RoleConfigurationTaskNotFound) => {
                    t.status = TaskStatus::Failed;
                    t.failure_reason = Some("Identity Center no longer knows this task".to_owned());
                }
                Err(e) => return Err(e.into()),
            }
            t.polls += 1;
            out.push(t);
        }
        for t in &out {
            self.push(Write::Task(t.clone()));
            if t.status != TaskStatus::InProgress {
                let mut entry = AuditEntry::new(&t.tenant, Source::Cic, &Origin::system("engine"), "task.end")
                    .account(Some(t.target_uin))
                    .detail(serde_json::json!({
                        "taskId": t.task_id,
                        "taskType": t.task_type,
                        "status": t.status.as_str(),
                        "failureReason": t.failure_reason,
                        "roleConfigurationId": t.role_configuration_id,
                        "polls": t.polls,
                        "operation": self.op.id,
                    }));
                if let Some(g) = &t.scim_group {
                    entry = entry.group(g);
                }
                self.push(Write::Audit(entry));
            }
        }
        Ok(out)
    }

    /// Polls the operation's running tasks once; `None` when there are none. Every task that
    /// ended is returned with the others, so that its caller records what it did on this very
    /// poll: recorded only once all had ended, a delete that ended before its siblings left its
    /// assignment recorded as present, and a later rename back into the rule then counted an
    /// assignment that Identity Center did not have (the soak found it, issue 13).
    async fn follow_tasks(&self, running: Vec<TaskRow>) -> Result<Option<Vec<TaskRow>>, Stop> {
        if running.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.poll_tasks(running).await?))
    }

    /// The wait for the first task of `polled` still in progress, if any; gives up after
    /// `MAX_POLLS` polls.
    fn still_running(polled: &[TaskRow]) -> Option<Stop> {
        let t = polled.iter().find(|t| t.status == TaskStatus::InProgress)?;
        if t.polls >= MAX_POLLS {
            return Some(refused(OpError {
                code: None,
                message: format!(
                    "task {} is still InProgress after {} polls; giving up",
                    t.task_id, t.polls
                ),
                request_id: None,
            }));
        }
        Some(Stop::on_task(
            poll_delay(t.polls),
            format!("waiting for task {}", t.task_id),
        ))
    }
}

/// The fields cic-bridge keeps of a task, from either task type of the API.
struct TaskInfoLike {
    task_id: String,
    task_type: String,
    role_configuration_id: String,
    target_uin: u64,
    status: TaskStatus,
    failure_reason: Option<String>,
}

impl From<&crate::tencent::model::TaskInfo> for TaskInfoLike {
    fn from(t: &crate::tencent::model::TaskInfo) -> Self {
        TaskInfoLike {
            task_id: t.task_id.clone(),
            task_type: t.task_type.clone(),
            role_configuration_id: t.role_configuration_id.clone(),
            target_uin: t.target_uin,
            status: t.status.into(),
            failure_reason: t.failure_reason.clone().filter(|r| !r.is_empty()),
        }
    }
}
