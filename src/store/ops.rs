//! The outbox as the engine sees it: operations to claim and finish, links from SCIM resources
//! to Identity Center objects, and alarms.
//!
//! Every function takes `now` from the caller, so lease expiry and retry schedules are tested
//! with a hand-set clock instead of sleeps.

use serde_json::Value;
use time::OffsetDateTime;

use super::{StoreError, format_time};
use crate::scim::schema::ResourceKind;

/// What an operation does. Syncs are state-based: they read the resource as it is when they
/// run and make Identity Center match it, so a newer change supersedes an older queued one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    UserSync,
    UserDelete,
    GroupSync,
    GroupDelete,
    /// Makes one (group, user) membership in Identity Center match the store.
    MemberSync,
    /// Makes a group's role assignments match the `[[assignments]]` rules.
    AssignSync,
    /// ProvisionRoleConfiguration of one role configuration (`resource_id`) on one account
    /// (`related_id`, or `*` for every member account), followed to the end of its task.
    Deploy,
}

impl OpKind {
    pub const ALL: [OpKind; 7] = [
        OpKind::UserSync,
        OpKind::UserDelete,
        OpKind::GroupSync,
        OpKind::GroupDelete,
        OpKind::MemberSync,
        OpKind::AssignSync,
        OpKind::Deploy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::UserSync => "user.sync",
            OpKind::UserDelete => "user.delete",
            OpKind::GroupSync => "group.sync",
            OpKind::GroupDelete => "group.delete",
            OpKind::MemberSync => "member.sync",
            OpKind::AssignSync => "assign.sync",
            OpKind::Deploy => "deploy",
        }
    }

    pub fn parse(s: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn sync(kind: ResourceKind) -> OpKind {
        match kind {
            ResourceKind::User => OpKind::UserSync,
            ResourceKind::Group => OpKind::GroupSync,
        }
    }

    pub fn delete(kind: ResourceKind) -> OpKind {
        match kind {
            ResourceKind::User => OpKind::UserDelete,
            ResourceKind::Group => OpKind::GroupDelete,
        }
    }

    /// Operations with the same key run one at a time, in the order they were recorded.
    pub fn key(self, resource_id: &str, related_id: Option<&str>) -> String {
        match self {
            OpKind::UserSync | OpKind::UserDelete => format!("user:{resource_id}"),
            OpKind::GroupSync | OpKind::GroupDelete => format!("group:{resource_id}"),
            OpKind::MemberSync => format!("member:{resource_id}:{}", related_id.unwrap_or_default()),
            OpKind::AssignSync => format!("assign:{resource_id}"),
            // One deployment in flight per account at a time (other clouds refuse concurrent
            // deployments on one account; assume Tencent may too).
            OpKind::Deploy => format!("deploy:{}", related_id.unwrap_or_default()),
        }
    }

    /// Whether a queued operation of this kind covers a later one on the same key.
    pub fn coalesces(self) -> bool {
        matches!(
            self,
            OpKind::UserSync | OpKind::GroupSync | OpKind::MemberSync | OpKind::AssignSync | OpKind::Deploy
        )
    }
}

/// An operation's kind as stored (the `kind` column).
impl TryFrom<String> for OpKind {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        OpKind::parse(&s).ok_or_else(|| format!("unknown operation kind {s}"))
    }
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: the CLI lines its tables up with width specifiers.
        f.pad(self.as_str())
    }
}

impl serde::Serialize for OpKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An operation's state as stored (the `state` column).
impl TryFrom<String> for OpState {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        OpState::parse(&s).ok_or_else(|| format!("unknown operation state {s}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpState {
    /// Waiting for its `next_attempt_at`.
    Pending,
    /// Claimed by a worker whose lease has not expired.
    Running,
    Done,
    /// Ended without effect; `last_error` says why. Not retried unless an admin asks.
    Failed,
    /// Stopped on a full quota; retried when an admin asks, or at the next capacity check.
    Parked,
    /// Held by the destructive-change fuse until an admin releases it.
    Held,
}

impl OpState {
    pub const ALL: [OpState; 6] = [
        OpState::Pending,
        OpState::Running,
        OpState::Done,
        OpState::Failed,
        OpState::Parked,
        OpState::Held,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Pending => "pending",
            OpState::Running => "running",
            OpState::Done => "done",
            OpState::Failed => "failed",
            OpState::Parked => "parked",
            OpState::Held => "held",
        }
    }

    pub fn parse(s: &str) -> Option<OpState> {
        OpState::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The operation will not run again by itself.
    pub fn is_settled(self) -> bool {
        matches!(self, OpState::Done | OpState::Failed | OpState::Parked | OpState::Held)
    }
}

/// A claimed operation.
#[derive(Debug, Clone)]
pub struct Op {
    pub id: i64,
    pub tenant: String,
    pub kind: OpKind,
    pub resource_id: String,
    pub related_id: Option<String>,
    pub payload: Value,
    /// Including the attempt now starting.
    pub attempts: i64,
    pub created_at: String,
    pub fuse_released: bool,
    /// The audit record that queued it (`seq`), when one did.
    pub cause: Option<i64>,
}

/// An Identity Center error (or transport failure) kept for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Finish {
    Done {
        result: String,
    },
    /// Try again at `at` (a retryable failure).
    Retry {
        at: OffsetDateTime,
        error: OpError,
    },
    /// Run again at `at` without counting an attempt (waiting for another operation, or with
    /// `on_task` for an Identity Center task it follows).
    Defer {
        at: OffsetDateTime,
        note: String,
        on_task: bool,
    },
    Failed {
        error: OpError,
    },
    /// Quota full: next capacity check at `at`.
    Parked {
        at: OffsetDateTime,
        error: OpError,
    },
    Held {
        note: String,
    },
}

/// An operation as the admin and the waiting SCIM handler see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpStatus {
    pub id: i64,
    pub tenant: String,
    #[sqlx(try_from = "String")]
    pub kind: OpKind,
    pub resource_id: String,
    pub related_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: OpState,
    pub attempts: i64,
    pub result: Option<String>,
    pub last_error: Option<String>,
    pub error_code: Option<String>,
    pub error_request_id: Option<String>,
    pub next_attempt_at: String,
    pub created_at: String,
    pub updated_at: String,
}

/// The Identity Center object behind a SCIM resource.
#[derive(Debug, Clone, PartialEq)]
pub struct CicLink {
    pub cic_id: String,
    pub cic_name: String,
    /// The last state written to Identity Center.
    pub synced: Value,
}

/// A role-configuration task's state as cic-bridge records it. Identity Center's empty or
/// unknown status counts as still in progress, as the enterprise Terraform provider treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum TaskStatus {
    InProgress,
    Success,
    Failed,
}

impl TaskStatus {
    /// As Identity Center spells it (and the `status` column stores it).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::InProgress => "InProgress",
            TaskStatus::Success => "Success",
            TaskStatus::Failed => "Failed",
        }
    }

    pub fn parse(s: &str) -> Option<TaskStatus> {
        [TaskStatus::InProgress, TaskStatus::Success, TaskStatus::Failed]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: the CLI lines its tables up with width specifiers.
        f.pad(self.as_str())
    }
}

impl TryFrom<String> for TaskStatus {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        TaskStatus::parse(&s).ok_or_else(|| format!("unknown task status {s}"))
    }
}

impl From<crate::tencent::model::TaskState> for TaskStatus {
    fn from(s: crate::tencent::model::TaskState) -> Self {
        use crate::tencent::model::TaskState;
        match s {
            TaskState::Success => TaskStatus::Success,
            TaskState::Failed => TaskStatus::Failed,
            TaskState::InProgress | TaskState::Unknown => TaskStatus::InProgress,
        }
    }
}

/// A task Identity Center returned, or its new state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TaskRow {
    pub tenant: String,
    pub task_id: String,
    pub task_type: String,
    pub scim_group: Option<String>,
    pub role_configuration_id: String,
    #[sqlx(try_from = "i64")]
    pub target_uin: u64,
    #[sqlx(try_from = "String")]
    pub status: TaskStatus,
    pub failure_reason: Option<String>,
    pub polls: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// What an attempt writes together with its outcome, in one transaction.
#[derive(Debug, Clone)]
pub enum Write {
    Link(LinkWrite),
    /// Insert or update a task.
    Task(TaskRow),
    /// Forget a link (the Identity Center object is gone: deleted, or found missing by a
    /// sync or by reconciliation, so the next sync creates it again). Under the lease like
    /// every write of an attempt.
    Unlink {
        tenant: String,
        kind: ResourceKind,
        scim_id: String,
    },
    /// A managed assignment now exists (`present`) or is gone.
    Assignment {
        tenant: String,
        scim_group: String,
        role_configuration_id: String,
        target_uin: u64,
        present: bool,
    },
    /// A record of the audit trail (an Identity Center call, a task's end).
    Audit(super::audit::AuditEntry),
}

/// Everything the store holds for one tenant, read at once for reconciliation and explain.
#[derive(Debug, Clone, Default)]
pub struct TenantSnapshot {
    /// (SCIM id, stored document)
    pub users: Vec<(String, Value)>,
    pub groups: Vec<(String, Value)>,
    /// (kind, SCIM id, link)
    pub links: Vec<(ResourceKind, String, CicLink)>,
    /// (group id, user id)
    pub members: Vec<(String, String)>,
    /// Managed assignments: (group id, role configuration id, account)
    pub assignments: Vec<(String, String, u64)>,
}

/// Rows of `cic_links` as both backends read them: (kind, SCIM id, CIC id, CIC name, synced JSON).
pub(crate) type LinkRow = (String, String, String, String, String);

impl TenantSnapshot {
    /// Assembles a snapshot from the rows both backends read (documents and `synced` as JSON
    /// text, accounts as signed integers).
    pub(crate) fn from_rows(
        users: Vec<(String, String)>,
        groups: Vec<(String, String)>,
        links: Vec<LinkRow>,
        members: Vec<(String, String)>,
        assignments: Vec<(String, String, i64)>,
    ) -> Result<TenantSnapshot, super::StoreError> {
        let parse = |rows: Vec<(String, String)>| -> Result<Vec<(String, Value)>, super::StoreError> {
            rows.into_iter()
                .map(|(id, doc)| Ok((id, serde_json::from_str(&doc)?)))
                .collect()
        };
        let links = links
            .into_iter()
            .map(|(kind, scim_id, cic_id, cic_name, synced)| {
                let kind = if kind == link_kind(ResourceKind::User) {
                    ResourceKind::User
                } else {
                    ResourceKind::Group
                };
                Ok((
                    kind,
                    scim_id,
                    CicLink {
                        cic_id,
                        cic_name,
                        synced: serde_json::from_str(&synced)?,
                    },
                ))
            })
            .collect::<Result<_, super::StoreError>>()?;
        Ok(TenantSnapshot {
            users: parse(users)?,
            groups: parse(groups)?,
            links,
            members,
            assignments: assignments
                .into_iter()
                .map(|(g, rc, uin)| (g, rc, u64::try_from(uin).unwrap_or_default()))
                .collect(),
        })
    }
}

/// The queue overview: operations per (tenant, kind, bucket) and the oldest due
/// `next_attempt_at` of each. The bucket is the state, with `pending` split into `waiting`
/// (following a task), `due` (may run now) and `scheduled` (a retry or a deferral not yet
/// due). `now` is the placeholder of the one parameter (`?1` or `$1`); the rest is SQL both
/// databases accept.
pub(crate) fn queue_overview_sql(now: &str) -> String {
    format!(
        "SELECT tenant, kind, bucket, count(*) AS count, min(CASE WHEN bucket = 'due' THEN next_attempt_at END) AS oldest_due FROM ( \
           SELECT tenant, kind, next_attempt_at, CASE \
             WHEN state = 'pending' AND waiting_on_task THEN 'waiting' \
             WHEN state = 'pending' AND next_attempt_at <= {now} THEN 'due' \
             WHEN state = 'pending' THEN 'scheduled' \
             ELSE state END AS bucket FROM operations) AS q \
         GROUP BY tenant, kind, bucket ORDER BY tenant, kind, bucket"
    )
}

/// A link to save together with an operation's outcome.
#[derive(Debug, Clone)]
pub struct LinkWrite {
    pub tenant: String,
    pub kind: ResourceKind,
    pub scim_id: String,
    pub link: CicLink,
}

/// One line of the queue overview (see `queue_overview_sql`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QueueCount {
    pub tenant: String,
    pub kind: String,
    /// `due`, `scheduled`, `waiting` (on an Identity Center task), `running`, `parked`,
    /// `held`, `failed` or `done`.
    pub bucket: String,
    pub count: i64,
    /// The oldest `next_attempt_at` among the due ones.
    pub oldest_due: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Alarm {
    pub tenant: String,
    pub code: String,
    pub message: String,
    pub raised_at: String,
    pub updated_at: String,
    pub count: i64,
}

/// `kind` column of `cic_links`.
pub fn link_kind(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "user",
        ResourceKind::Group => "group",
    }
}

pub(crate) fn ts(t: OffsetDateTime) -> String {
    format_time(t)
}

pub(crate) const OP_STATUS_COLUMNS: &str = "id, tenant, kind, resource_id, related_id, state, attempts, result, last_error, error_code, error_request_id, next_attempt_at, created_at, updated_at";

/// An operation as claimed (`CLAIMED_COLUMNS`), before its kind and payload are parsed.
#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    id: i64,
    tenant: String,
    kind: String,
    resource_id: String,
    related_id: Option<String>,
    payload: String,
    attempts: i64,
    created_at: String,
    fuse_released: bool,
    cause: Option<i64>,
}

/// What a claim returns, as [`ClaimedRow`] reads it.
pub(crate) const CLAIMED_COLUMNS: &str =
    "id, tenant, kind, resource_id, related_id, payload, attempts, created_at, fuse_released, cause";

impl TryFrom<ClaimedRow> for Op {
    type Error = StoreError;

    fn try_from(r: ClaimedRow) -> Result<Op, StoreError> {
        Ok(Op {
            id: r.id,
            tenant: r.tenant,
            kind: OpKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Invalid(format!("unknown operation kind {}", r.kind)))?,
            resource_id: r.resource_id,
            related_id: r.related_id,
            payload: serde_json::from_str(&r.payload)?,
            attempts: r.attempts,
            created_at: r.created_at,
            fuse_released: r.fuse_released,
            cause: r.cause,
        })
    }
}
