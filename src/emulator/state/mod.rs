//! The emulated zone: objects, the rules of every action, and asynchronous tasks.
//!
//! Everything here is synchronous and pure over `State` plus the `now` it is given, so the HTTP
//! layer holds the lock only for the duration of one action and tests can drive time.
//! Tasks are settled lazily: before each action, every task whose delay has passed is applied
//! in creation order, which is indistinguishable from a background worker to any client.
//!
//! This file holds the zone's state, the dispatch of actions and the checks they share; each
//! resource's actions live in their own file (`zone`, `organization` with the department tree
//! and the member accounts, `users`, `groups` with memberships, `role_configurations`,
//! `deployments`, `assignments`, `tasks` with settlement), and every List action filters,
//! orders and pages through `list::list`.

mod assignments;
mod deployments;
mod groups;
mod list;
mod organization;
#[cfg(test)]
mod organization_tests;
mod role_configurations;
mod tasks;
#[cfg(test)]
mod tests;
mod users;
mod zone;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::macros::{format_description, offset};
use time::{OffsetDateTime, UtcOffset};

use crate::tencent::model::*;

use assignments::{Assignment, AssignmentKey};
use deployments::Deployment;
use groups::Group;
use organization::Org;
use role_configurations::RoleConfig;
use tasks::Task;
pub use tasks::TaskRecord;
use users::User;
use zone::Target;

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
    /// The organization's member accounts at start, in the root department unless
    /// `departments` places them; tests add and remove accounts later through the `Emulator`.
    pub member_uins: Vec<u64>,
    /// Departments at start: a path of names below the root (`Production/Payments`, each
    /// missing level created) and the member accounts placed there.
    pub departments: Vec<(String, Vec<u64>)>,
    /// Tags on member accounts at start: (MemberUin, TagKey, TagValue).
    pub member_tags: Vec<(u64, String, String)>,
    /// Departments the organization may hold, the root not counted
    /// (`LimitExceeded.NodeExceedLimit` beyond). Not published by Tencent; an emulator setting.
    pub department_limit: u64,
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

/// Times in answers have no zone; presumably China time.
const CHINA_TIME: UtcOffset = offset!(+8);

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
    /// The organization's department tree, root first, by NodeId.
    pub departments: Vec<OrgNode>,
    /// The member accounts as DescribeOrganizationMembers answers them.
    pub members: Vec<OrgMember>,
}

#[derive(Debug)]
pub struct State {
    settings: Settings,
    created: String,
    /// The department tree and the member accounts (the live set `target()` checks).
    org: Org,
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

/// What `State::new` would skip in the settings' organization (a department or tag naming an
/// account that is not a member, a bad department name, ...): `cic-bridge emulator` refuses to
/// start on any.
pub fn organization_problems(settings: &Settings) -> Vec<String> {
    Org::build(settings, "").1
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

fn valid_strict_name(name: &str, max: usize) -> bool {
    !name.is_empty() && name.chars().count() <= max && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl State {
    pub fn new(settings: Settings, now: OffsetDateTime) -> Self {
        let rng = match settings.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        let created = format_time(now);
        let (org, problems) = Org::build(&settings, &created);
        for problem in problems {
            tracing::warn!(%problem, "emulator settings: organization entry skipped");
        }
        let mut state = Self {
            created,
            org,
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
        state.seed_role_configurations();
        state
    }

    /// The settings the zone started with: `member_uins` and `departments` are the starting
    /// organization, not the live one (see [`Snapshot::members`]).
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

    /// The sequence number the next object or task will get; with [`Self::mark_tasks_since`],
    /// tells which tasks one request started.
    pub fn next_seq_peek(&self) -> u64 {
        self.seq + 1
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
            "DescribeOrganizationNodes" => run!(DescribeOrganizationNodes, describe_organization_nodes),
            "AddOrganizationNode" => run!(AddOrganizationNode, add_organization_node),
            "UpdateOrganizationNode" => run!(UpdateOrganizationNode, update_organization_node),
            "DeleteOrganizationNodes" => run!(DeleteOrganizationNodes, delete_organization_nodes),
            "MoveOrganizationNodeMembers" => run!(MoveOrganizationNodeMembers, move_organization_node_members),
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
                .map(|(k, a)| self.role_assignment(k, a))
                .collect(),
            deployments: self
                .deployments
                .iter()
                .map(|((rc, target), d)| self.provisioning(rc, target, d))
                .collect(),
            tasks: tasks.into_iter().map(Task::info).collect(),
            departments: self.org.node_infos(),
            members: self.org.member_infos(),
        }
    }
}

/// Every action the emulator implements.
pub const ACTIONS: &[&str] = &[
    "DescribeIdentityCenter",
    "GetZoneStatistics",
    "DescribeOrganizationMembers",
    "DescribeOrganizationNodes",
    "AddOrganizationNode",
    "UpdateOrganizationNode",
    "DeleteOrganizationNodes",
    "MoveOrganizationNodeMembers",
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
