//! The emulated zone: objects, the rules of every action, and asynchronous tasks.
//!
//! Everything here is synchronous and pure over `State` plus the `now` it is given, so the HTTP
//! layer holds the lock only for the duration of one action and tests can drive time.
//! Tasks are settled lazily: before each action, every task whose delay has passed is applied
//! in creation order, which is indistinguishable from a background worker to any client.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::macros::{format_description, offset};
use time::{OffsetDateTime, UtcOffset};

use crate::tencent::model::*;

/// The error an action answers with: `Response.Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionError {
    pub code: &'static str,
    pub message: String,
}

impl ActionError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

type Outcome<T> = Result<T, ActionError>;

/// Emulator rules that are not part of the wire protocol.
#[derive(Debug, Clone)]
pub struct Settings {
    pub zone_id: String,
    pub zone_name: String,
    pub manager_uin: u64,
    pub member_uins: Vec<u64>,
    pub user_limit: u64,
    pub group_limit: u64,
    pub role_configuration_limit: u64,
    /// Not published by Tencent; an emulator setting.
    pub group_member_limit: u64,
    /// Not published by Tencent; an emulator setting.
    pub user_group_limit: u64,
    /// Not published by Tencent; an emulator setting.
    pub assignment_limit: u64,
    pub task_delay: Duration,
    /// Each task's delay is `task_delay` plus a uniformly random extra in `0..=task_delay_jitter`,
    /// so tasks started together settle at different times (slow asynchronous tasks).
    pub task_delay_jitter: Duration,
    /// Documented rule: letters, digits and '-' only. Lenient mode accepts any printable name.
    pub strict_group_names: bool,
    /// Zone's SCIM synchronization switch: while on, `Synchronized` users and groups are
    /// read-only through the API.
    pub scim_sync_enabled: bool,
    /// The undocumented mirror rule: `Manual` users and groups are read-only.
    pub manual_lock: bool,
    pub seed_role_configurations: Vec<(String, String)>,
    pub rng_seed: Option<u64>,
}

/// Names and ranges the reference documents.
const MAX_RESULTS_DEFAULT: u64 = 10;
const MAX_RESULTS_MAX: u64 = 100;
const MAX_ASSIGNMENTS_PER_CALL: usize = 50;
const SESSION_DURATION_DEFAULT: u64 = 3600;
const SESSION_DURATION_RANGE: std::ops::RangeInclusive<u64> = 900..=43200;
const SYSTEM_POLICY_PER_ROLE_CONFIGURATION_QUOTA: u64 = 20;
/// Times in answers have no zone; presumably China time.
const CHINA_TIME: UtcOffset = offset!(+8);

#[derive(Debug, Clone)]
struct User {
    seq: u64,
    info: UserInfo,
}

#[derive(Debug, Clone)]
struct Group {
    seq: u64,
    info: GroupInfo,
}

#[derive(Debug, Clone)]
struct RoleConfig {
    seq: u64,
    info: RoleConfiguration,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Target {
    kind: TargetKind,
    uin: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum TargetKind {
    Manager,
    Member,
}

impl TargetKind {
    fn of(t: TargetType) -> Self {
        match t {
            TargetType::ManagerUin => Self::Manager,
            TargetType::MemberUin => Self::Member,
        }
    }
    fn api(self) -> TargetType {
        match self {
            Self::Manager => TargetType::ManagerUin,
            Self::Member => TargetType::MemberUin,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum PrincipalKind {
    User,
    Group,
}

impl PrincipalKind {
    fn of(p: PrincipalType) -> Self {
        match p {
            PrincipalType::User => Self::User,
            PrincipalType::Group => Self::Group,
        }
    }
    fn api(self) -> PrincipalType {
        match self {
            Self::User => PrincipalType::User,
            Self::Group => PrincipalType::Group,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct AssignmentKey {
    rc: String,
    target: Target,
    principal: PrincipalKind,
    principal_id: String,
}

#[derive(Debug, Clone)]
struct Assignment {
    seq: u64,
    created: String,
    updated: String,
}

#[derive(Debug, Clone)]
struct Deployment {
    seq: u64,
    status: DeploymentStatus,
    created: String,
    updated: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskKind {
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
struct Task {
    id: String,
    seq: u64,
    kind: TaskKind,
    rc: String,
    rc_name: String,
    target: Target,
    principal: Option<(PrincipalKind, String)>,
    deprovision: DeprovisionStrategy,
    status: TaskState,
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

/// Read-only copy of the emulated zone, for tests and the bridge's dev mode.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Snapshot {
    pub zone_id: String,
    pub users: Vec<UserInfo>,
    pub groups: Vec<GroupInfo>,
    /// (GroupId, UserId)
    pub memberships: Vec<(String, String)>,
    pub role_configurations: Vec<RoleConfiguration>,
    pub assignments: Vec<RoleAssignments>,
    pub deployments: Vec<RoleConfigurationProvisionings>,
    pub tasks: Vec<TaskInfo>,
}

#[derive(Debug)]
pub struct State {
    settings: Settings,
    created: String,
    users: BTreeMap<String, User>,
    groups: BTreeMap<String, Group>,
    /// (GroupId, UserId) -> join time.
    memberships: BTreeMap<(String, String), String>,
    role_configs: BTreeMap<String, RoleConfig>,
    assignments: BTreeMap<AssignmentKey, Assignment>,
    deployments: BTreeMap<(String, Target), Deployment>,
    tasks: BTreeMap<String, Task>,
    failing_targets: HashMap<u64, Option<String>>,
    /// Extra time that tasks against these accounts take (a slow member account).
    slow_targets: HashMap<u64, Duration>,
    rng: StdRng,
    seq: u64,
}

fn format_time(at: OffsetDateTime) -> String {
    at.to_offset(CHINA_TIME)
        .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
        .unwrap_or_default()
}

/// Parses a request with the client's own types. Serde's messages name the problem in a stable
/// first phrase, which maps onto the platform's common codes.
pub fn parse_request<A: DeserializeOwned>(body: Value) -> Outcome<A> {
    // Serde would also build a struct from a JSON array of its fields; the API takes objects.
    if !body.is_object() {
        return Err(ActionError::new(
            "InvalidParameter",
            "The request body must be a JSON object",
        ));
    }
    serde_json::from_value(body).map_err(|e| {
        let text = e.to_string();
        let code = if text.starts_with("missing field") {
            "MissingParameter"
        } else if text.starts_with("unknown field") {
            "UnknownParameter"
        } else if text.starts_with("unknown variant")
            || text.starts_with("invalid value")
            || text.starts_with("invalid length")
        {
            "InvalidParameterValue"
        } else {
            "InvalidParameter"
        };
        ActionError::new(code, format!("The request parameters are invalid: {text}"))
    })
}

fn to_value<T: Serialize>(value: T) -> Outcome<Value> {
    serde_json::to_value(value).map_err(|e| ActionError::new("InternalError", format!("cannot encode answer: {e}")))
}

fn value_error(message: impl Into<String>) -> ActionError {
    ActionError::new("InvalidParameterValue", message)
}

fn check_len(field: &str, value: Option<&str>, max: usize) -> Outcome<()> {
    match value {
        Some(v) if v.chars().count() > max => Err(value_error(format!("{field} is longer than {max} characters"))),
        _ => Ok(()),
    }
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// Page of a token-paginated list.
struct PageOut<T> {
    items: Vec<T>,
    total: u64,
    max_results: u64,
    next_token: Option<String>,
    is_truncated: bool,
}

fn encode_token(offset: u64) -> String {
    // Mainland examples show base64 of {"Offset":N}; clients must treat it as opaque.
    BASE64.encode(format!("{{\"Offset\":{offset}}}"))
}

fn decode_token(token: &str) -> Outcome<u64> {
    let invalid = || ActionError::new("InvalidParameter.NextTokenInvalid", "NextToken is invalid");
    let bytes = BASE64.decode(token).map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    value.get("Offset").and_then(Value::as_u64).ok_or_else(invalid)
}

fn paginate<T>(
    items: Vec<T>,
    max_results: Option<u64>,
    next_token: Option<&str>,
    offset: Option<u64>,
) -> Outcome<PageOut<T>> {
    let max_results = max_results.unwrap_or(MAX_RESULTS_DEFAULT);
    if !(1..=MAX_RESULTS_MAX).contains(&max_results) {
        return Err(value_error(format!(
            "MaxResults must be between 1 and {MAX_RESULTS_MAX}"
        )));
    }
    // NextToken wins over Offset when both are sent; an empty token is a first call.
    let start = match next_token.filter(|t| !t.is_empty()) {
        Some(token) => decode_token(token)?,
        None => offset.unwrap_or(0),
    };
    let total = items.len() as u64;
    let end = start.saturating_add(max_results).min(total);
    let is_truncated = end < total;
    let items = items
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(max_results).unwrap_or(usize::MAX))
        .collect();
    Ok(PageOut {
        items,
        total,
        max_results,
        next_token: is_truncated.then(|| encode_token(end)),
        is_truncated,
    })
}

fn sort_by_create<T>(items: &mut [(u64, T)], sort_field: Option<&str>, sort_type: Option<SortType>) -> Outcome<()> {
    if let Some(field) = sort_field {
        if field != "CreateTime" {
            return Err(value_error("SortField only supports CreateTime"));
        }
    }
    items.sort_by_key(|(seq, _)| *seq);
    if sort_type == Some(SortType::Desc) {
        items.reverse();
    }
    Ok(())
}

fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

fn valid_strict_name(name: &str, max: usize) -> bool {
    !name.is_empty() && name.chars().count() <= max && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn valid_lenient_name(name: &str, max: usize) -> bool {
    !name.trim().is_empty() && name.chars().count() <= max && !name.chars().any(char::is_control)
}

impl State {
    pub fn new(settings: Settings, now: OffsetDateTime) -> Self {
        let rng = match settings.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        let mut state = Self {
            created: format_time(now),
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            memberships: BTreeMap::new(),
            role_configs: BTreeMap::new(),
            assignments: BTreeMap::new(),
            deployments: BTreeMap::new(),
            tasks: BTreeMap::new(),
            failing_targets: HashMap::new(),
            slow_targets: HashMap::new(),
            rng,
            seq: 0,
            settings,
        };
        for (id, name) in state.settings.seed_role_configurations.clone() {
            let seq = state.next_seq();
            let info = RoleConfiguration {
                role_configuration_id: id.clone(),
                role_configuration_name: name,
                description: "Seeded by the emulator".to_owned(),
                session_duration: Some(SESSION_DURATION_DEFAULT),
                relay_state: Some(String::new()),
                create_time: Some(state.created.clone()),
                update_time: Some(state.created.clone()),
                is_selected: None,
            };
            state.role_configs.insert(id, RoleConfig { seq, info });
        }
        state
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn set_scim_sync(&mut self, enabled: bool) {
        self.settings.scim_sync_enabled = enabled;
    }

    /// Tasks started from now on whose target is `uin` end `Failed` with `reason` (`None` =
    /// empty FailureReason, as right after an account joins the organization).
    pub fn fail_tasks_on_account(&mut self, uin: u64, reason: Option<String>) {
        self.failing_targets.insert(uin, reason);
    }

    pub fn stop_failing_tasks_on_account(&mut self, uin: u64) {
        self.failing_targets.remove(&uin);
    }

    /// Tasks started from now on whose target is `uin` take `extra` longer (zero: as usual).
    pub fn slow_tasks_on_account(&mut self, uin: u64, extra: Duration) {
        if extra.is_zero() {
            self.slow_targets.remove(&uin);
        } else {
            self.slow_targets.insert(uin, extra);
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// `prefix` + 12 characters of [a-z0-9], the documented ID shape.
    fn new_id(&mut self, prefix: &str) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        loop {
            let suffix: String = (0..12)
                .map(|_| char::from(ALPHABET[self.rng.random_range(0..ALPHABET.len())]))
                .collect();
            let id = format!("{prefix}{suffix}");
            let taken = self.users.contains_key(&id)
                || self.groups.contains_key(&id)
                || self.role_configs.contains_key(&id)
                || self.tasks.contains_key(&id);
            if !taken {
                return id;
            }
        }
    }

    fn password(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789!@#%";
        (0..16)
            .map(|_| char::from(ALPHABET[self.rng.random_range(0..ALPHABET.len())]))
            .collect()
    }

    /// Runs one action. `action` must be one of [`ACTIONS`]; `body` is the parsed JSON body.
    pub fn handle(&mut self, action: &str, body: Value, now: OffsetDateTime) -> Outcome<Value> {
        self.settle(now);
        macro_rules! run {
            ($req:ty, $method:ident) => {{
                let request: $req = parse_request(body)?;
                to_value(self.$method(request, now)?)
            }};
        }
        match action {
            "DescribeIdentityCenter" => run!(DescribeIdentityCenter, describe_identity_center),
            "GetZoneStatistics" => run!(GetZoneStatistics, get_zone_statistics),
            "DescribeOrganizationMembers" => run!(DescribeOrganizationMembers, describe_organization_members),
            "CreateUser" => run!(CreateUser, create_user),
            "GetUser" => run!(GetUser, get_user),
            "ListUsers" => run!(ListUsers, list_users),
            "UpdateUser" => run!(UpdateUser, update_user),
            "UpdateUserStatus" => run!(UpdateUserStatus, update_user_status),
            "DeleteUser" => run!(DeleteUser, delete_user),
            "ListJoinedGroupsForUser" => run!(ListJoinedGroupsForUser, list_joined_groups_for_user),
            "CreateGroup" => run!(CreateGroup, create_group),
            "GetGroup" => run!(GetGroup, get_group),
            "ListGroups" => run!(ListGroups, list_groups),
            "UpdateGroup" => run!(UpdateGroup, update_group),
            "DeleteGroup" => run!(DeleteGroup, delete_group),
            "AddUserToGroup" => run!(AddUserToGroup, add_user_to_group),
            "RemoveUserFromGroup" => run!(RemoveUserFromGroup, remove_user_from_group),
            "ListGroupMembers" => run!(ListGroupMembers, list_group_members),
            "CreateRoleConfiguration" => run!(CreateRoleConfiguration, create_role_configuration),
            "GetRoleConfiguration" => run!(GetRoleConfiguration, get_role_configuration),
            "ListRoleConfigurations" => run!(ListRoleConfigurations, list_role_configurations),
            "UpdateRoleConfiguration" => run!(UpdateRoleConfiguration, update_role_configuration),
            "DeleteRoleConfiguration" => run!(DeleteRoleConfiguration, delete_role_configuration),
            "CreateRoleAssignment" => run!(CreateRoleAssignment, create_role_assignment),
            "DeleteRoleAssignment" => run!(DeleteRoleAssignment, delete_role_assignment),
            "ListRoleAssignments" => run!(ListRoleAssignments, list_role_assignments),
            "ProvisionRoleConfiguration" => run!(ProvisionRoleConfiguration, provision_role_configuration),
            "DismantleRoleConfiguration" => run!(DismantleRoleConfiguration, dismantle_role_configuration),
            "ListRoleConfigurationProvisionings" => {
                run!(
                    ListRoleConfigurationProvisionings,
                    list_role_configuration_provisionings
                )
            }
            "GetTaskStatus" => run!(GetTaskStatus, get_task_status),
            "GetProvisioningTaskStatus" => run!(GetProvisioningTaskStatus, get_provisioning_task_status),
            "ListTasks" => run!(ListTasks, list_tasks),
            _ => Err(ActionError::new(
                "InvalidAction",
                format!("The action {action} is not supported"),
            )),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Shared checks
    // -----------------------------------------------------------------------------------------

    fn zone(&self, zone_id: &str) -> Outcome<()> {
        if zone_id == self.settings.zone_id {
            Ok(())
        } else {
            Err(ActionError::new(
                "FailedOperation.ZoneIdNotExist",
                format!("Zone {zone_id} does not exist"),
            ))
        }
    }

    fn user(&self, user_id: &str) -> Outcome<&User> {
        self.users.get(user_id).ok_or_else(|| {
            ActionError::new(
                "ResourceNotFound.UserNotExist",
                format!("User {user_id} does not exist"),
            )
        })
    }

    fn group(&self, group_id: &str) -> Outcome<&Group> {
        self.groups.get(group_id).ok_or_else(|| {
            ActionError::new(
                "InvalidParameter.GroupNotExist",
                format!("Group {group_id} does not exist"),
            )
        })
    }

    fn role_config(&self, id: &str) -> Outcome<&RoleConfig> {
        self.role_configs.get(id).ok_or_else(|| {
            ActionError::new(
                "InvalidParameter.RoleConfigurationNotExist",
                format!("Role configuration {id} does not exist"),
            )
        })
    }

    fn target(&self, target_type: TargetType, uin: u64) -> Outcome<Target> {
        let exists = match target_type {
            TargetType::ManagerUin => uin == self.settings.manager_uin,
            TargetType::MemberUin => self.settings.member_uins.contains(&uin),
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

    fn target_name(&self, target: &Target) -> String {
        match target.kind {
            TargetKind::Manager => format!("manager-{}", target.uin),
            TargetKind::Member => format!("member-{}", target.uin),
        }
    }

    fn principal_name(&self, kind: PrincipalKind, id: &str) -> String {
        match kind {
            PrincipalKind::User => self.users.get(id).map(|u| u.info.user_name.clone()),
            PrincipalKind::Group => self.groups.get(id).map(|g| g.info.group_name.clone()),
        }
        .unwrap_or_default()
    }

    fn user_writable(&self, user: &User, deleting: bool) -> Outcome<()> {
        match user.info.user_type {
            ObjectType::Synchronized if self.settings.scim_sync_enabled => Err(if deleting {
                ActionError::new(
                    "FailedOperation.SynchronizedUserNotDelete",
                    "Synchronized users cannot be deleted while SCIM synchronization is enabled",
                )
            } else {
                ActionError::new(
                    "FailedOperation.SynchronizedUserNotUpdate",
                    "Synchronized users cannot be changed while SCIM synchronization is enabled",
                )
            }),
            ObjectType::Manual if self.settings.manual_lock => Err(if deleting {
                ActionError::new(
                    "FailedOperation.ManualUserNotDelete",
                    "Manual users cannot be deleted in this zone",
                )
            } else {
                ActionError::new(
                    "FailedOperation.ManualUserNotUpdate",
                    "Manual users cannot be changed in this zone",
                )
            }),
            _ => Ok(()),
        }
    }

    fn group_writable(&self, group: &Group, op: GroupOp) -> Outcome<()> {
        match group.info.group_type {
            ObjectType::Synchronized if self.settings.scim_sync_enabled => Err(match op {
                GroupOp::Update => ActionError::new(
                    "FailedOperation.SynchronizedGroupNotUpdate",
                    "Synchronized groups cannot be changed while SCIM synchronization is enabled",
                ),
                GroupOp::Delete => ActionError::new(
                    "FailedOperation.SynchronizedGroupNotDelete",
                    "Synchronized groups cannot be deleted while SCIM synchronization is enabled",
                ),
                GroupOp::AddUser => ActionError::new(
                    "FailedOperation.SynchronizedGroupNotAddUser",
                    "Members cannot be added to a Synchronized group while SCIM synchronization is enabled",
                ),
                GroupOp::RemoveUser => ActionError::new(
                    "FailedOperation.SynchronizedGroupNotRemoveUser",
                    "Members cannot be removed from a Synchronized group while SCIM synchronization is enabled",
                ),
            }),
            ObjectType::Manual if self.settings.manual_lock => Err(match op {
                GroupOp::Delete => ActionError::new(
                    "FailedOperation.ManualGroupNotDelete",
                    "Manual groups cannot be deleted in this zone",
                ),
                _ => ActionError::new(
                    "FailedOperation.ManualGroupNotUpdate",
                    "Manual groups cannot be changed in this zone",
                ),
            }),
            _ => Ok(()),
        }
    }

    fn email_taken(&self, email: &str, except: Option<&str>) -> bool {
        !email.is_empty()
            && self.users.values().any(|u| {
                Some(u.info.user_id.as_str()) != except
                    && !u.info.email.is_empty()
                    && lower(&u.info.email) == lower(email)
            })
    }

    fn group_name_ok(&self, name: &str) -> bool {
        if self.settings.strict_group_names {
            valid_strict_name(name, 128)
        } else {
            valid_lenient_name(name, 128)
        }
    }

    fn group_name_taken(&self, name: &str, except: Option<&str>) -> bool {
        self.groups
            .values()
            .any(|g| Some(g.info.group_id.as_str()) != except && lower(&g.info.group_name) == lower(name))
    }

    fn member_count(&self, group_id: &str) -> u64 {
        self.memberships
            .range((group_id.to_owned(), String::new())..)
            .take_while(|((g, _), _)| g == group_id)
            .count() as u64
    }

    fn group_info(&self, group: &Group) -> GroupInfo {
        GroupInfo {
            member_count: self.member_count(&group.info.group_id),
            ..group.info.clone()
        }
    }

    fn has_assignments_of(&self, kind: PrincipalKind, id: &str) -> bool {
        self.assignments
            .keys()
            .any(|k| k.principal == kind && k.principal_id == id)
    }

    // -----------------------------------------------------------------------------------------
    // Zone
    // -----------------------------------------------------------------------------------------

    fn describe_identity_center(
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

    fn get_zone_statistics(&mut self, r: GetZoneStatistics, _: OffsetDateTime) -> Outcome<GetZoneStatisticsResponse> {
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

    fn describe_organization_members(
        &mut self,
        r: DescribeOrganizationMembers,
        _: OffsetDateTime,
    ) -> Outcome<DescribeOrganizationMembersResponse> {
        if !(1..=50).contains(&r.limit) {
            return Err(value_error("Limit must be between 1 and 50"));
        }
        let members: Vec<OrgMember> = self
            .settings
            .member_uins
            .iter()
            .map(|uin| OrgMember {
                member_uin: *uin,
                name: format!("member-{uin}"),
            })
            .collect();
        let total = members.len() as u64;
        let items = members
            .into_iter()
            .skip(usize::try_from(r.offset).unwrap_or(usize::MAX))
            .take(r.limit as usize)
            .collect();
        Ok(DescribeOrganizationMembersResponse {
            items,
            total,
            request_id: String::new(),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Users
    // -----------------------------------------------------------------------------------------

    fn create_user(&mut self, r: CreateUser, now: OffsetDateTime) -> Outcome<UserInfoResponse> {
        self.zone(&r.zone_id)?;
        if !valid_user_name(&r.user_name) {
            return Err(ActionError::new(
                "InvalidParameter.UsernameFormatError",
                "UserName must be 1-64 characters of [0-9A-Za-z+=,.@_-]",
            ));
        }
        check_len("FirstName", r.first_name.as_deref(), 64)?;
        check_len("LastName", r.last_name.as_deref(), 64)?;
        check_len("DisplayName", r.display_name.as_deref(), 256)?;
        check_len("Description", r.description.as_deref(), 1024)?;
        check_len("Email", r.email.as_deref(), 128)?;
        // UNCERTAIN in the reference whether uniqueness is case-insensitive; the stricter
        // choice makes a bridge that compares exactly find out early.
        if self
            .users
            .values()
            .any(|u| lower(&u.info.user_name) == lower(&r.user_name))
        {
            return Err(ActionError::new(
                "InvalidParameter.UsernameAlreadyExists",
                format!("UserName {} already exists", r.user_name),
            ));
        }
        if let Some(email) = &r.email {
            if self.email_taken(email, None) {
                return Err(ActionError::new(
                    "InvalidParameter.EmailAlreadyExists",
                    format!("Email {email} is already used"),
                ));
            }
        }
        if self.users.len() as u64 >= self.settings.user_limit {
            return Err(ActionError::new(
                "FailedOperation.UserOverUpperLimit",
                "The zone has reached its user quota",
            ));
        }
        let id = self.new_id("u-");
        let seq = self.next_seq();
        let time = format_time(now);
        let info = UserInfo {
            user_name: r.user_name,
            first_name: r.first_name.unwrap_or_default(),
            last_name: r.last_name.unwrap_or_default(),
            display_name: r.display_name.unwrap_or_default(),
            description: r.description.unwrap_or_default(),
            email: r.email.unwrap_or_default(),
            user_status: r.user_status.unwrap_or_default(),
            user_type: r.user_type.unwrap_or_default(),
            user_id: id.clone(),
            create_time: time.clone(),
            update_time: time,
            is_selected: None,
            password: None,
            need_reset_password: Some(r.need_reset_password.unwrap_or(false)),
        };
        self.users.insert(
            id,
            User {
                seq,
                info: info.clone(),
            },
        );
        let password = Some(self.password());
        Ok(UserInfoResponse {
            user_info: UserInfo { password, ..info },
            request_id: String::new(),
        })
    }

    fn get_user(&mut self, r: GetUser, _: OffsetDateTime) -> Outcome<UserInfoResponse> {
        self.zone(&r.zone_id)?;
        Ok(UserInfoResponse {
            user_info: self.user(&r.user_id)?.info.clone(),
            request_id: String::new(),
        })
    }

    fn list_users(&mut self, r: ListUsers, _: OffsetDateTime) -> Outcome<ListUsersResponse> {
        self.zone(&r.zone_id)?;
        let needle = r.filter.as_deref().map(lower).filter(|f| !f.is_empty());
        let selected_groups = r.filter_groups.clone().unwrap_or_default();
        let mut rows: Vec<(u64, UserInfo)> = self
            .users
            .values()
            .filter(|u| r.user_status.is_none_or(|s| u.info.user_status == s))
            .filter(|u| r.user_type.is_none_or(|t| u.info.user_type == t))
            .filter(|u| {
                needle.as_ref().is_none_or(|n| {
                    [&u.info.user_name, &u.info.email, &u.info.user_id, &u.info.description]
                        .iter()
                        .any(|field| lower(field).contains(n.as_str()))
                })
            })
            .map(|u| {
                let mut info = u.info.clone();
                if r.filter_groups.is_some() {
                    let selected = selected_groups
                        .iter()
                        .any(|g| self.memberships.contains_key(&(g.clone(), u.info.user_id.clone())));
                    info.is_selected = Some(selected);
                }
                (u.seq, info)
            })
            .collect();
        sort_by_create(&mut rows, r.sort_field.as_deref(), r.sort_type)?;
        let page = paginate(rows, r.max_results, r.next_token.as_deref(), r.offset)?;
        Ok(ListUsersResponse {
            total_counts: page.total,
            max_results: page.max_results,
            users: page.items.into_iter().map(|(_, u)| u).collect(),
            next_token: page.next_token,
            is_truncated: page.is_truncated,
            request_id: String::new(),
        })
    }

    fn update_user(&mut self, r: UpdateUser, now: OffsetDateTime) -> Outcome<UpdateUserResponse> {
        self.zone(&r.zone_id)?;
        let user = self.user(&r.user_id)?;
        self.user_writable(user, false)?;
        check_len("NewFirstName", r.new_first_name.as_deref(), 64)?;
        check_len("NewLastName", r.new_last_name.as_deref(), 64)?;
        check_len("NewDisplayName", r.new_display_name.as_deref(), 256)?;
        check_len("NewDescription", r.new_description.as_deref(), 1024)?;
        check_len("NewEmail", r.new_email.as_deref(), 128)?;
        if let Some(email) = &r.new_email {
            if self.email_taken(email, Some(&r.user_id)) {
                return Err(ActionError::new(
                    "InvalidParameter.EmailAlreadyExists",
                    format!("Email {email} is already used"),
                ));
            }
        }
        let time = format_time(now);
        let user = self
            .users
            .get_mut(&r.user_id)
            .ok_or_else(|| ActionError::new("ResourceNotFound.UserNotExist", "User does not exist"))?;
        let info = &mut user.info;
        // Fields not sent stay unchanged (INFERRED in the reference).
        if let Some(v) = r.new_first_name {
            info.first_name = v;
        }
        if let Some(v) = r.new_last_name {
            info.last_name = v;
        }
        if let Some(v) = r.new_display_name {
            info.display_name = v;
        }
        if let Some(v) = r.new_description {
            info.description = v;
        }
        if let Some(v) = r.new_email {
            info.email = v;
        }
        if let Some(v) = r.need_reset_password {
            info.need_reset_password = Some(v);
        }
        info.update_time = time;
        Ok(UpdateUserResponse {
            user_info: Some(info.clone()),
            request_id: String::new(),
        })
    }

    fn update_user_status(&mut self, r: UpdateUserStatus, now: OffsetDateTime) -> Outcome<EmptyResponse> {
        self.zone(&r.zone_id)?;
        let user = self.user(&r.user_id)?;
        self.user_writable(user, false)?;
        let time = format_time(now);
        if let Some(user) = self.users.get_mut(&r.user_id) {
            user.info.user_status = r.new_user_status;
            user.info.update_time = time;
        }
        Ok(EmptyResponse::default())
    }

    fn delete_user(&mut self, r: DeleteUser, _: OffsetDateTime) -> Outcome<EmptyResponse> {
        self.zone(&r.zone_id)?;
        let user = self.user(&r.user_id)?;
        self.user_writable(user, true)?;
        if self.memberships.keys().any(|(_, u)| *u == r.user_id) {
            return Err(ActionError::new(
                "InvalidParameter.UserAlreadyExistsGroup",
                "The user still belongs to a group; remove it from its groups first",
            ));
        }
        if self.has_assignments_of(PrincipalKind::User, &r.user_id) {
            return Err(ActionError::new(
                "FailedOperation.RoleConfigurationAuthorizationExist",
                "The user still has role assignments",
            ));
        }
        self.users.remove(&r.user_id);
        Ok(EmptyResponse::default())
    }

    fn list_joined_groups_for_user(
        &mut self,
        r: ListJoinedGroupsForUser,
        _: OffsetDateTime,
    ) -> Outcome<ListJoinedGroupsForUserResponse> {
        self.zone(&r.zone_id)?;
        self.user(&r.user_id)?;
        let mut rows: Vec<(u64, JoinedGroups)> = self
            .memberships
            .iter()
            .filter(|((_, u), _)| *u == r.user_id)
            .filter_map(|((g, _), joined)| {
                self.groups.get(g).map(|group| {
                    (
                        group.seq,
                        JoinedGroups {
                            group_name: group.info.group_name.clone(),
                            description: group.info.description.clone(),
                            group_id: group.info.group_id.clone(),
                            group_type: group.info.group_type,
                            join_time: joined.clone(),
                        },
                    )
                })
            })
            .collect();
        rows.sort_by_key(|(seq, _)| *seq);
        let page = paginate(rows, r.max_results, r.next_token.as_deref(), None)?;
        Ok(ListJoinedGroupsForUserResponse {
            next_token: page.next_token,
            total_counts: page.total,
            max_results: page.max_results,
            is_truncated: page.is_truncated,
            joined_groups: page.items.into_iter().map(|(_, g)| g).collect(),
            request_id: String::new(),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Groups
    // -----------------------------------------------------------------------------------------

    fn create_group(&mut self, r: CreateGroup, now: OffsetDateTime) -> Outcome<GroupInfoResponse> {
        self.zone(&r.zone_id)?;
        if !self.group_name_ok(&r.group_name) {
            return Err(ActionError::new(
                "InvalidParameter.GroupNameFormatError",
                "GroupName must be 1-128 characters of letters, digits and '-'",
            ));
        }
        check_len("Description", r.description.as_deref(), 1024)?;
        if self.group_name_taken(&r.group_name, None) {
            return Err(ActionError::new(
                "InvalidParameter.GroupNameAlreadyExists",
                format!("GroupName {} already exists", r.group_name),
            ));
        }
        if self.groups.len() as u64 >= self.settings.group_limit {
            return Err(ActionError::new(
                "FailedOperation.GroupOverUpperLimit",
                "The zone has reached its group quota",
            ));
        }
        let id = self.new_id("g-");
        let seq = self.next_seq();
        let time = format_time(now);
        let info = GroupInfo {
            group_name: r.group_name,
            description: r.description.unwrap_or_default(),
            create_time: time.clone(),
            group_type: r.group_type.unwrap_or_default(),
            update_time: time,
            group_id: id.clone(),
            member_count: 0,
            is_selected: None,
        };
        self.groups.insert(
            id,
            Group {
                seq,
                info: info.clone(),
            },
        );
        Ok(GroupInfoResponse {
            group_info: Some(info),
            request_id: String::new(),
        })
    }

    fn get_group(&mut self, r: GetGroup, _: OffsetDateTime) -> Outcome<GroupInfoResponse> {
        self.zone(&r.zone_id)?;
        let group = self.group(&r.group_id)?;
        Ok(GroupInfoResponse {
            group_info: Some(self.group_info(group)),
            request_id: String::new(),
        })
    }

    fn list_groups(&mut self, r: ListGroups, _: OffsetDateTime) -> Outcome<ListGroupsResponse> {
        self.zone(&r.zone_id)?;
        let filter = r.filter.as_deref().map(parse_group_filter).transpose()?.flatten();
        let users = r.filter_users.clone().unwrap_or_default();
        let mut rows: Vec<(u64, GroupInfo)> = self
            .groups
            .values()
            .filter(|g| r.group_type.is_none_or(|t| g.info.group_type == t))
            .filter(|g| filter.as_ref().is_none_or(|f| f.matches(&g.info.group_name)))
            .map(|g| {
                let mut info = self.group_info(g);
                if r.filter_users.is_some() {
                    let selected = users
                        .iter()
                        .any(|u| self.memberships.contains_key(&(g.info.group_id.clone(), u.clone())));
                    info.is_selected = Some(selected);
                }
                (g.seq, info)
            })
            .collect();
        sort_by_create(&mut rows, r.sort_field.as_deref(), r.sort_type)?;
        let page = paginate(rows, r.max_results, r.next_token.as_deref(), r.offset)?;
        Ok(ListGroupsResponse {
            next_token: page.next_token,
            groups: page.items.into_iter().map(|(_, g)| g).collect(),
            max_results: page.max_results,
            total_counts: page.total,
            is_truncated: page.is_truncated,
            request_id: String::new(),
        })
    }

    fn update_group(&mut self, r: UpdateGroup, now: OffsetDateTime) -> Outcome<GroupInfoResponse> {
        self.zone(&r.zone_id)?;
        let group = self.group(&r.group_id)?;
        self.group_writable(group, GroupOp::Update)?;
        if let Some(name) = &r.new_group_name {
            if !self.group_name_ok(name) {
                return Err(ActionError::new(
                    "InvalidParameter.GroupNameFormatError",
                    "GroupName must be 1-128 characters of letters, digits and '-'",
                ));
            }
            if self.group_name_taken(name, Some(&r.group_id)) {
                return Err(ActionError::new(
                    "InvalidParameter.GroupNameAlreadyExists",
                    format!("GroupName {name} already exists"),
                ));
            }
        }
        check_len("NewDescription", r.new_description.as_deref(), 1024)?;
        let time = format_time(now);
        if let Some(group) = self.groups.get_mut(&r.group_id) {
            if let Some(name) = r.new_group_name {
                group.info.group_name = name;
            }
            if let Some(description) = r.new_description {
                group.info.description = description;
            }
            group.info.update_time = time;
        }
        let group = self.group(&r.group_id)?;
        Ok(GroupInfoResponse {
            group_info: Some(self.group_info(group)),
            request_id: String::new(),
        })
    }

    fn delete_group(&mut self, r: DeleteGroup, _: OffsetDateTime) -> Outcome<EmptyResponse> {
        self.zone(&r.zone_id)?;
        let group = self.group(&r.group_id)?;
        self.group_writable(group, GroupOp::Delete)?;
        if self.member_count(&r.group_id) > 0 {
            return Err(ActionError::new(
                "FailedOperation.DeleteGroupNotAllowExistUser",
                "The group still has members; remove them first",
            ));
        }
        if self.has_assignments_of(PrincipalKind::Group, &r.group_id) {
            return Err(ActionError::new(
                "FailedOperation.RoleConfigurationAuthorizationExist",
                "The group still has role assignments",
            ));
        }
        self.groups.remove(&r.group_id);
        Ok(EmptyResponse::default())
    }

    fn add_user_to_group(&mut self, r: AddUserToGroup, now: OffsetDateTime) -> Outcome<EmptyResponse> {
        self.zone(&r.zone_id)?;
        let group = self.group(&r.group_id)?;
        let user = self.user(&r.user_id)?;
        self.group_writable(group, GroupOp::AddUser)?;
        if group.info.group_type != user.info.user_type {
            return Err(ActionError::new(
                "FailedOperation.GroupTypeUserTypeNotMatch",
                "User type and group type must match",
            ));
        }
        let key = (r.group_id.clone(), r.user_id.clone());
        if self.memberships.contains_key(&key) {
            return Err(ActionError::new(
                "InvalidParameter.GroupUserAlreadyExists",
                "The user is already a member of the group",
            ));
        }
        if self.member_count(&r.group_id) >= self.settings.group_member_limit {
            return Err(ActionError::new(
                "FailedOperation.GroupUserCountOverUpperLimit",
                "The group has reached its member limit",
            ));
        }
        let joined = self.memberships.keys().filter(|(_, u)| *u == r.user_id).count() as u64;
        if joined >= self.settings.user_group_limit {
            return Err(ActionError::new(
                "FailedOperation.UserAddGroupCountOverUpperLimit",
                "The user has reached its group limit",
            ));
        }
        self.memberships.insert(key, format_time(now));
        Ok(EmptyResponse::default())
    }

    fn remove_user_from_group(&mut self, r: RemoveUserFromGroup, _: OffsetDateTime) -> Outcome<EmptyResponse> {
        self.zone(&r.zone_id)?;
        let group = self.group(&r.group_id)?;
        self.group_writable(group, GroupOp::RemoveUser)?;
        // The documented error list has no UserNotExist here: a deleted user is simply not a
        // member.
        if self
            .memberships
            .remove(&(r.group_id.clone(), r.user_id.clone()))
            .is_none()
        {
            return Err(ActionError::new(
                "InvalidParameter.GroupUserNotExist",
                "The user is not a member of the group",
            ));
        }
        Ok(EmptyResponse::default())
    }

    fn list_group_members(&mut self, r: ListGroupMembers, _: OffsetDateTime) -> Outcome<ListGroupMembersResponse> {
        self.zone(&r.zone_id)?;
        self.group(&r.group_id)?;
        let mut rows: Vec<(u64, GroupMembers)> = self
            .memberships
            .iter()
            .filter(|((g, _), _)| *g == r.group_id)
            .filter_map(|((_, u), joined)| self.users.get(u).map(|user| (user, joined)))
            .filter(|(user, _)| r.user_type.is_none_or(|t| user.info.user_type == t))
            .map(|(user, joined)| {
                (
                    user.seq,
                    GroupMembers {
                        user_name: user.info.user_name.clone(),
                        display_name: user.info.display_name.clone(),
                        description: user.info.description.clone(),
                        email: user.info.email.clone(),
                        user_status: user.info.user_status,
                        user_type: user.info.user_type,
                        user_id: user.info.user_id.clone(),
                        join_time: joined.clone(),
                    },
                )
            })
            .collect();
        rows.sort_by_key(|(seq, _)| *seq);
        let page = paginate(rows, r.max_results, r.next_token.as_deref(), None)?;
        Ok(ListGroupMembersResponse {
            next_token: page.next_token,
            total_counts: page.total,
            max_results: page.max_results,
            is_truncated: page.is_truncated,
            group_members: page.items.into_iter().map(|(_, m)| m).collect(),
            request_id: String::new(),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Role configurations
    // -----------------------------------------------------------------------------------------

    fn create_role_configuration(
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

    fn get_role_configuration(
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

    fn list_role_configurations(
        &mut self,
        r: ListRoleConfigurations,
        _: OffsetDateTime,
    ) -> Outcome<ListRoleConfigurationsResponse> {
        self.zone(&r.zone_id)?;
        let needle = r.filter.as_deref().map(lower).filter(|f| !f.is_empty());
        let targets = r.filter_targets.clone().unwrap_or_default();
        let mut rows: Vec<(u64, RoleConfiguration)> = self
            .role_configs
            .values()
            .filter(|rc| {
                needle.as_ref().is_none_or(|n| {
                    lower(&rc.info.role_configuration_name).contains(n.as_str())
                        || lower(&rc.info.description).contains(n.as_str())
                })
            })
            .map(|rc| {
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
            })
            .collect();
        rows.sort_by_key(|(seq, _)| *seq);
        let page = paginate(rows, r.max_results, r.next_token.as_deref(), None)?;
        Ok(ListRoleConfigurationsResponse {
            total_counts: page.total,
            max_results: page.max_results,
            is_truncated: page.is_truncated,
            next_token: page.next_token,
            role_configurations: page.items.into_iter().map(|(_, rc)| rc).collect(),
            request_id: String::new(),
        })
    }

    fn update_role_configuration(
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

    fn delete_role_configuration(&mut self, r: DeleteRoleConfiguration, _: OffsetDateTime) -> Outcome<EmptyResponse> {
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

    // -----------------------------------------------------------------------------------------
    // Assignments, deployments, tasks
    // -----------------------------------------------------------------------------------------

    fn pending(&self, kind: TaskKind, matches: impl Fn(&Task) -> bool) -> bool {
        self.tasks
            .values()
            .any(|t| t.kind == kind && t.status == TaskState::InProgress && matches(t))
    }

    fn start_task(
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
        let rc_name = self
            .role_configs
            .get(rc)
            .map(|c| c.info.role_configuration_name.clone())
            .unwrap_or_default();
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

    /// The sequence number the next object or task will get; with [`Self::mark_tasks_since`],
    /// tells which tasks one request started.
    pub fn next_seq_peek(&self) -> u64 {
        self.seq + 1
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
                info: Self::task_info(t),
                request_fault: t.request_fault,
                scripted_failure: t.scripted_failure.is_some(),
                create_time: t.created.clone(),
                settle_time: t.settled.clone(),
            })
            .collect()
    }

    fn task_info(task: &Task) -> TaskInfo {
        let (principal_type, principal_id) = match &task.principal {
            Some((kind, id)) => (kind.api(), id.clone()),
            None => (PrincipalType::default(), String::new()),
        };
        TaskInfo {
            task_id: task.id.clone(),
            role_configuration_id: task.rc.clone(),
            role_configuration_name: task.rc_name.clone(),
            target_uin: task.target.uin,
            target_type: task.target.kind.api(),
            principal_id,
            principal_type,
            task_type: task.kind.task_type().to_owned(),
            status: task.status,
            failure_reason: task.failure_reason.clone(),
        }
    }

    fn provisioning_task(task: &Task) -> RoleProvisioningsTask {
        RoleProvisioningsTask {
            task_id: task.id.clone(),
            role_configuration_id: task.rc.clone(),
            role_configuration_name: task.rc_name.clone(),
            target_uin: task.target.uin,
            target_type: Some(task.target.kind.api()),
            task_type: Some(task.kind.task_type().to_owned()),
            task_status: Some(task.status),
        }
    }

    fn create_role_assignment(
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
            let pending = self.pending(TaskKind::CreateAssignment, |t| task_key(t).as_ref() == Some(&key));
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
                Self::task_info(&task)
            })
            .collect();
        Ok(CreateRoleAssignmentResponse {
            tasks,
            request_id: String::new(),
        })
    }

    fn delete_role_assignment(
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
            task: Some(Self::task_info(&task)),
            request_id: String::new(),
        })
    }

    fn list_role_assignments(
        &mut self,
        r: ListRoleAssignments,
        _: OffsetDateTime,
    ) -> Outcome<ListRoleAssignmentsResponse> {
        self.zone(&r.zone_id)?;
        let needle = r.filter.as_deref().map(lower).filter(|f| !f.is_empty());
        let mut rows: Vec<(u64, RoleAssignments)> = self
            .assignments
            .iter()
            .filter(|(k, _)| r.role_configuration_id.as_ref().is_none_or(|rc| *rc == k.rc))
            .filter(|(k, _)| r.target_type.is_none_or(|t| TargetKind::of(t) == k.target.kind))
            .filter(|(k, _)| r.target_uin.is_none_or(|u| u == k.target.uin))
            .filter(|(k, _)| r.principal_type.is_none_or(|p| PrincipalKind::of(p) == k.principal))
            .filter(|(k, _)| r.principal_id.as_ref().is_none_or(|p| *p == k.principal_id))
            .map(|(k, a)| {
                let rc_name = self
                    .role_configs
                    .get(&k.rc)
                    .map(|c| c.info.role_configuration_name.clone())
                    .unwrap_or_default();
                (
                    a.seq,
                    RoleAssignments {
                        role_configuration_id: k.rc.clone(),
                        role_configuration_name: rc_name,
                        target_uin: k.target.uin,
                        target_type: k.target.kind.api(),
                        principal_id: k.principal_id.clone(),
                        principal_type: k.principal.api(),
                        principal_name: self.principal_name(k.principal, &k.principal_id),
                        create_time: a.created.clone(),
                        update_time: a.updated.clone(),
                        target_name: self.target_name(&k.target),
                    },
                )
            })
            .filter(|(_, a)| {
                needle
                    .as_ref()
                    .is_none_or(|n| lower(&a.role_configuration_name).contains(n.as_str()))
            })
            .collect();
        rows.sort_by_key(|(seq, _)| *seq);
        let page = paginate(rows, r.max_results, r.next_token.as_deref(), None)?;
        Ok(ListRoleAssignmentsResponse {
            next_token: page.next_token,
            total_counts: page.total,
            max_results: page.max_results,
            is_truncated: page.is_truncated,
            role_assignments: page.items.into_iter().map(|(_, a)| a).collect(),
            request_id: String::new(),
        })
    }

    fn provision_role_configuration(
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
            task: Self::provisioning_task(&task),
            request_id: String::new(),
        })
    }

    fn dismantle_role_configuration(
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
            task: Self::provisioning_task(&task),
            request_id: String::new(),
        })
    }

    fn list_role_configuration_provisionings(
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
        let needle = r.filter.as_deref().map(lower).filter(|f| !f.is_empty());
        let mut rows: Vec<(u64, RoleConfigurationProvisionings)> = self
            .deployments
            .iter()
            .filter(|((rc, _), _)| r.role_configuration_id.as_ref().is_none_or(|id| id == rc))
            .filter(|((_, t), _)| r.target_type.is_none_or(|tt| TargetKind::of(tt) == t.kind))
            .filter(|((_, t), _)| r.target_uin.is_none_or(|u| u == t.uin))
            .filter(|(_, d)| r.deployment_status.is_none_or(|s| s == d.status))
            .map(|((rc, target), d)| {
                let rc_name = self
                    .role_configs
                    .get(rc)
                    .map(|c| c.info.role_configuration_name.clone())
                    .unwrap_or_default();
                (
                    d.seq,
                    RoleConfigurationProvisionings {
                        deployment_status: d.status,
                        role_configuration_id: rc.clone(),
                        role_configuration_name: rc_name,
                        target_uin: target.uin,
                        target_name: self.target_name(target),
                        create_time: d.created.clone(),
                        update_time: d.updated.clone(),
                        target_type: target.kind.api(),
                    },
                )
            })
            .filter(|(_, p)| {
                needle
                    .as_ref()
                    .is_none_or(|n| lower(&p.role_configuration_name).contains(n.as_str()))
            })
            .collect();
        rows.sort_by_key(|(seq, _)| *seq);
        let page = paginate(rows, r.max_results, r.next_token.as_deref(), None)?;
        Ok(ListRoleConfigurationProvisioningsResponse {
            next_token: page.next_token,
            total_counts: page.total,
            max_results: page.max_results,
            is_truncated: page.is_truncated,
            role_configuration_provisionings: page.items.into_iter().map(|(_, p)| p).collect(),
            request_id: String::new(),
        })
    }

    fn get_task_status(&mut self, r: GetTaskStatus, _: OffsetDateTime) -> Outcome<TaskStatusResponse> {
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
    fn get_provisioning_task_status(
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

    fn list_tasks(&mut self, r: ListTasks, _: OffsetDateTime) -> Outcome<ListTasksResponse> {
        self.zone(&r.zone_id)?;
        if r.status == Some(TaskState::Unknown) {
            return Err(value_error("Status must be InProgress, Success or Failed"));
        }
        let mut rows: Vec<(u64, TaskInfo)> = self
            .tasks
            .values()
            .filter(|t| {
                r.principal_id
                    .as_ref()
                    .is_none_or(|p| t.principal.as_ref().is_some_and(|(_, id)| id == p))
            })
            .filter(|t| {
                r.principal_type
                    .is_none_or(|p| t.principal.as_ref().is_some_and(|(k, _)| *k == PrincipalKind::of(p)))
            })
            .filter(|t| r.target_uin.is_none_or(|u| t.target.uin == u))
            .filter(|t| r.target_type.is_none_or(|tt| t.target.kind == TargetKind::of(tt)))
            .filter(|t| r.role_configuration_id.as_ref().is_none_or(|rc| *rc == t.rc))
            .filter(|t| r.status.is_none_or(|s| t.status == s))
            .filter(|t| r.task_type.as_ref().is_none_or(|tt| tt == t.kind.task_type()))
            .map(|t| (t.seq, Self::task_info(t)))
            .collect();
        rows.sort_by_key(|(seq, _)| *seq);
        let page = paginate(rows, r.max_results, r.next_token.as_deref(), None)?;
        Ok(ListTasksResponse {
            next_token: page.next_token,
            total_counts: page.total,
            max_results: page.max_results,
            is_truncated: page.is_truncated,
            tasks: page.items.into_iter().map(|(_, t)| t).collect(),
            request_id: String::new(),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Task settlement
    // -----------------------------------------------------------------------------------------

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
                let Some(key) = task_key(task) else {
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
                let Some(key) = task_key(task) else {
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

    fn upsert_deployment(&mut self, key: (String, Target), status: DeploymentStatus, time: &str) {
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

    pub fn snapshot(&self) -> Snapshot {
        let mut users: Vec<&User> = self.users.values().collect();
        users.sort_by_key(|u| u.seq);
        let mut groups: Vec<&Group> = self.groups.values().collect();
        groups.sort_by_key(|g| g.seq);
        let mut rcs: Vec<&RoleConfig> = self.role_configs.values().collect();
        rcs.sort_by_key(|rc| rc.seq);
        let mut tasks: Vec<&Task> = self.tasks.values().collect();
        tasks.sort_by_key(|t| t.seq);
        Snapshot {
            zone_id: self.settings.zone_id.clone(),
            users: users.into_iter().map(|u| u.info.clone()).collect(),
            groups: groups.into_iter().map(|g| self.group_info(g)).collect(),
            memberships: self.memberships.keys().cloned().collect(),
            role_configurations: rcs.into_iter().map(|rc| rc.info.clone()).collect(),
            assignments: self
                .assignments
                .iter()
                .map(|(k, a)| RoleAssignments {
                    role_configuration_id: k.rc.clone(),
                    role_configuration_name: self
                        .role_configs
                        .get(&k.rc)
                        .map(|c| c.info.role_configuration_name.clone())
                        .unwrap_or_default(),
                    target_uin: k.target.uin,
                    target_type: k.target.kind.api(),
                    principal_id: k.principal_id.clone(),
                    principal_type: k.principal.api(),
                    principal_name: self.principal_name(k.principal, &k.principal_id),
                    create_time: a.created.clone(),
                    update_time: a.updated.clone(),
                    target_name: self.target_name(&k.target),
                })
                .collect(),
            deployments: self
                .deployments
                .iter()
                .map(|((rc, target), d)| RoleConfigurationProvisionings {
                    deployment_status: d.status,
                    role_configuration_id: rc.clone(),
                    role_configuration_name: self
                        .role_configs
                        .get(rc)
                        .map(|c| c.info.role_configuration_name.clone())
                        .unwrap_or_default(),
                    target_uin: target.uin,
                    target_name: self.target_name(target),
                    create_time: d.created.clone(),
                    update_time: d.updated.clone(),
                    target_type: target.kind.api(),
                })
                .collect(),
            tasks: tasks.into_iter().map(Self::task_info).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum GroupOp {
    Update,
    Delete,
    AddUser,
    RemoveUser,
}

fn task_key(task: &Task) -> Option<AssignmentKey> {
    task.principal.as_ref().map(|(kind, id)| AssignmentKey {
        rc: task.rc.clone(),
        target: task.target.clone(),
        principal: *kind,
        principal_id: id.clone(),
    })
}

/// ListGroups `Filter`: `GroupName eq X` or `GroupName sw X`, case-insensitive.
#[derive(Debug, Clone, PartialEq)]
enum GroupFilter {
    Eq(String),
    StartsWith(String),
}

impl GroupFilter {
    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Eq(v) => lower(name) == *v,
            Self::StartsWith(v) => lower(name).starts_with(v.as_str()),
        }
    }
}

fn parse_group_filter(filter: &str) -> Outcome<Option<GroupFilter>> {
    let filter = filter.trim();
    if filter.is_empty() {
        return Ok(None);
    }
    let bad = || {
        ActionError::new(
            "InvalidParameter.ParamError",
            "Filter must be `GroupName eq X` or `GroupName sw X`",
        )
    };
    let mut parts = filter.splitn(3, char::is_whitespace);
    let attr = parts.next().ok_or_else(bad)?;
    let op = parts.next().ok_or_else(bad)?;
    let value = parts.next().map(str::trim).filter(|v| !v.is_empty()).ok_or_else(bad)?;
    if !attr.eq_ignore_ascii_case("GroupName") {
        return Err(bad());
    }
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    let value = lower(value);
    match op.to_ascii_lowercase().as_str() {
        "eq" => Ok(Some(GroupFilter::Eq(value))),
        "sw" => Ok(Some(GroupFilter::StartsWith(value))),
        _ => Err(bad()),
    }
}

/// Every action the emulator implements.
pub const ACTIONS: &[&str] = &[
    "DescribeIdentityCenter",
    "GetZoneStatistics",
    "DescribeOrganizationMembers",
    "CreateUser",
    "GetUser",
    "ListUsers",
    "UpdateUser",
    "UpdateUserStatus",
    "DeleteUser",
    "ListJoinedGroupsForUser",
    "CreateGroup",
    "GetGroup",
    "ListGroups",
    "UpdateGroup",
    "DeleteGroup",
    "AddUserToGroup",
    "RemoveUserFromGroup",
    "ListGroupMembers",
    "CreateRoleConfiguration",
    "GetRoleConfiguration",
    "ListRoleConfigurations",
    "UpdateRoleConfiguration",
    "DeleteRoleConfiguration",
    "CreateRoleAssignment",
    "DeleteRoleAssignment",
    "ListRoleAssignments",
    "ProvisionRoleConfiguration",
    "DismantleRoleConfiguration",
    "ListRoleConfigurationProvisionings",
    "GetTaskStatus",
    "GetProvisioningTaskStatus",
    "ListTasks",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> Settings {
        Settings {
            zone_id: "z-testzone0001".into(),
            zone_name: "test".into(),
            manager_uin: 100_000_000_000,
            member_uins: vec![100_000_000_001, 100_000_000_002],
            user_limit: 3,
            group_limit: 2,
            role_configuration_limit: 10,
            group_member_limit: 100,
            user_group_limit: 100,
            assignment_limit: 100,
            task_delay: Duration::from_millis(100),
            task_delay_jitter: Duration::ZERO,
            strict_group_names: true,
            scim_sync_enabled: false,
            manual_lock: false,
            seed_role_configurations: vec![],
            rng_seed: Some(7),
        }
    }

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    fn call(state: &mut State, action: &str, body: Value) -> Outcome<Value> {
        state.handle(action, body, t0())
    }

    fn code(result: Outcome<Value>) -> &'static str {
        result.expect_err("expected an error").code
    }

    #[test]
    fn request_parse_errors_map_to_common_codes() {
        let mut s = State::new(settings(), t0());
        assert_eq!(
            code(call(&mut s, "GetUser", json!({"ZoneId": "z-testzone0001"}))),
            "MissingParameter"
        );
        assert_eq!(
            code(call(
                &mut s,
                "GetUser",
                json!({"ZoneId": "z-testzone0001", "UserId": "u", "Foo": 1})
            )),
            "UnknownParameter"
        );
        assert_eq!(
            code(call(&mut s, "GetUser", json!({"ZoneId": 5, "UserId": "u"}))),
            "InvalidParameter"
        );
        assert_eq!(code(call(&mut s, "GetUser", json!([1, 2]))), "InvalidParameter");
        assert_eq!(
            code(call(
                &mut s,
                "UpdateUserStatus",
                json!({"ZoneId": "z-testzone0001", "UserId": "u", "NewUserStatus": "Paused"})
            )),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(call(
                &mut s,
                "ListUsers",
                json!({"ZoneId": "z-testzone0001", "MaxResults": -1})
            )),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(call(
                &mut s,
                "ListUsers",
                json!({"ZoneId": "z-testzone0001", "MaxResults": 101})
            )),
            "InvalidParameterValue"
        );
        assert_eq!(code(call(&mut s, "NoSuchThing", json!({}))), "InvalidAction");
        assert_eq!(
            code(call(&mut s, "GetUser", json!({"ZoneId": "z-other", "UserId": "u"}))),
            "FailedOperation.ZoneIdNotExist"
        );
    }

    #[test]
    fn ids_have_the_documented_shape() {
        let mut s = State::new(settings(), t0());
        let user = call(
            &mut s,
            "CreateUser",
            json!({"ZoneId": "z-testzone0001", "UserName": "a"}),
        )
        .unwrap();
        let id = user["UserInfo"]["UserId"].as_str().unwrap();
        assert_eq!(id.len(), 14);
        assert!(id.starts_with("u-") && id[2..].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_eq!(user["UserInfo"]["UserType"], "Manual");
        assert_eq!(user["UserInfo"]["UserStatus"], "Enabled");
        assert_eq!(
            user["UserInfo"]["CreateTime"], "2023-11-15 06:13:20",
            "China time, no zone"
        );
        assert!(user["UserInfo"]["Password"].as_str().is_some_and(|p| p.len() == 16));
    }

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(encode_token(0), "eyJPZmZzZXQiOjB9", "matches the documented example");
        assert_eq!(decode_token(&encode_token(42)), Ok(42));
        for bad in ["!!", "e30=", "bm90IGpzb24="] {
            assert_eq!(decode_token(bad).unwrap_err().code, "InvalidParameter.NextTokenInvalid");
        }
        let page = paginate((0..25).collect(), Some(10), None, None).unwrap();
        assert_eq!((page.items.len(), page.total, page.is_truncated), (10, 25, true));
        let page = paginate((0..25).collect(), Some(10), page.next_token.as_deref(), None).unwrap();
        assert_eq!(page.items.first(), Some(&10));
        let page = paginate((0..25).collect(), Some(10), page.next_token.as_deref(), None).unwrap();
        assert_eq!((page.items.len(), page.is_truncated, page.next_token), (5, false, None));
        let page = paginate((0..25).collect::<Vec<_>>(), None, Some(""), Some(20)).unwrap();
        assert_eq!(page.items, vec![20, 21, 22, 23, 24]);
    }

    #[test]
    fn group_filter_syntax() {
        assert_eq!(
            parse_group_filter("GroupName eq Admins").unwrap(),
            Some(GroupFilter::Eq("admins".into()))
        );
        assert_eq!(
            parse_group_filter("groupname SW dev").unwrap(),
            Some(GroupFilter::StartsWith("dev".into()))
        );
        assert_eq!(parse_group_filter("").unwrap(), None);
        for bad in ["GroupName", "GroupName eq", "Name eq x", "GroupName co x"] {
            assert_eq!(
                parse_group_filter(bad).unwrap_err().code,
                "InvalidParameter.ParamError",
                "{bad}"
            );
        }
    }

    #[test]
    fn tasks_settle_after_the_delay_in_order() {
        let mut s = State::new(settings(), t0());
        let zone = "z-testzone0001";
        let rc = call(
            &mut s,
            "CreateRoleConfiguration",
            json!({"ZoneId": zone, "RoleConfigurationName": "admin"}),
        )
        .unwrap();
        let rc = rc["RoleConfigurationInfo"]["RoleConfigurationId"]
            .as_str()
            .unwrap()
            .to_owned();
        let user = call(&mut s, "CreateUser", json!({"ZoneId": zone, "UserName": "a"})).unwrap();
        let user = user["UserInfo"]["UserId"].as_str().unwrap().to_owned();
        let entry = json!({"RoleConfigurationId": rc, "PrincipalType": "User", "PrincipalId": user, "TargetType": "MemberUin", "TargetUin": 100_000_000_001_u64});
        let created = call(
            &mut s,
            "CreateRoleAssignment",
            json!({"ZoneId": zone, "RoleAssignmentInfo": [entry]}),
        )
        .unwrap();
        let task = created["Tasks"][0]["TaskId"].as_str().unwrap().to_owned();
        assert_eq!(created["Tasks"][0]["Status"], "InProgress");
        let status = s
            .handle(
                "GetTaskStatus",
                json!({"ZoneId": zone, "TaskId": task}),
                t0() + Duration::from_millis(99),
            )
            .unwrap();
        assert_eq!(status["TaskStatus"]["Status"], "InProgress");
        assert!(s.snapshot().assignments.is_empty());
        let status = s
            .handle(
                "GetTaskStatus",
                json!({"ZoneId": zone, "TaskId": task}),
                t0() + Duration::from_millis(100),
            )
            .unwrap();
        assert_eq!(status["TaskStatus"]["Status"], "Success");
        assert_eq!(status["TaskStatus"]["TaskType"], "CreateRoleAssignment");
        let snap = s.snapshot();
        assert_eq!(snap.assignments.len(), 1);
        assert_eq!(snap.deployments.len(), 1);
        assert_eq!(snap.deployments[0].deployment_status, DeploymentStatus::Deployed);
    }
}
