//! Typed requests and responses of the Identity Center actions the bridge uses.
//!
//! Field names are the API's PascalCase names (reference section 3 and 4). The emulator parses
//! requests with these same types, so they carry `deny_unknown_fields` (an unexpected field is
//! `UnknownParameter` there) while response types default every field, because the real service
//! omits fields the documentation calls optional and we would rather read an empty value than
//! fail a whole call over it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One API action: its request type is `Self`, its `X-TC-Action` is `NAME`.
pub trait Action: Serialize + DeserializeOwned + Send + Sync {
    const NAME: &'static str;
    type Response: Serialize + DeserializeOwned + Default + Send;
}

/// One page of a token-paginated `List*` action.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `None` when this was the last page. An empty string counts as no token: one documented
    /// example returns `""` together with `IsTruncated: true`.
    pub next_token: Option<String>,
    pub total_counts: u64,
}

/// A `List*` action paginated with `NextToken` / `MaxResults`.
pub trait Paginated: Action + Clone {
    type Item: Send;
    fn set_next_token(&mut self, token: Option<String>);
    fn into_page(response: Self::Response) -> Page<Self::Item>;
}

fn next_token_of(is_truncated: bool, token: Option<String>) -> Option<String> {
    token.filter(|t| is_truncated && !t.is_empty())
}

macro_rules! action {
    ($req:ident => $resp:ident) => {
        impl Action for $req {
            const NAME: &'static str = stringify!($req);
            type Response = $resp;
        }
    };
}

macro_rules! paginated {
    ($req:ident, $item:ty, $field:ident) => {
        impl Paginated for $req {
            type Item = $item;
            fn set_next_token(&mut self, token: Option<String>) {
                self.next_token = token;
            }
            fn into_page(response: Self::Response) -> Page<Self::Item> {
                Page {
                    next_token: next_token_of(response.is_truncated, response.next_token),
                    total_counts: response.total_counts,
                    items: response.$field,
                }
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum UserStatus {
    #[default]
    Enabled,
    Disabled,
}

/// `UserType` / `GroupType`: created through the API (`Manual`) or by CIC's own SCIM endpoint
/// (`Synchronized`, read-only while the zone's SCIM sync is on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ObjectType {
    #[default]
    Manual,
    Synchronized,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum PrincipalType {
    #[default]
    User,
    Group,
}

/// `ManagerUin` is the organization's admin account, `MemberUin` any member account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TargetType {
    ManagerUin,
    #[default]
    MemberUin,
}

/// Task state. Exact case; terminal = `Success` | `Failed`. `Unknown` catches anything else,
/// including the empty status one provider treats as "still pending".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TaskState {
    #[default]
    InProgress,
    Success,
    Failed,
    #[serde(other)]
    Unknown,
}

impl TaskState {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::Failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DeploymentStatus {
    #[default]
    Deployed,
    DeployedRequired,
    DeployFailed,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DeprovisionStrategy {
    #[default]
    None,
    DeprovisionForLastRoleAssignmentOnAccount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SortType {
    Asc,
    Desc,
}

/// `TaskType` values as the reference lists them. Kept as strings in the types because the
/// documented examples disagree (`DeleteRolesAssignment`, provisioning tasks shown as
/// `CreateRoleAssignment`).
pub mod task_type {
    pub const PROVISION_ROLE_CONFIGURATION: &str = "ProvisionRoleConfiguration";
    pub const DEPROVISION_ROLE_CONFIGURATION: &str = "DeprovisionRoleConfiguration";
    pub const CREATE_ROLE_ASSIGNMENT: &str = "CreateRoleAssignment";
    pub const DELETE_ROLE_ASSIGNMENT: &str = "DeleteRoleAssignment";
}

// ---------------------------------------------------------------------------------------------
// Data types (section 4)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UserInfo {
    pub user_name: String,
    /// Given name (the CreateUser field text says family name; UserInfo and every example
    /// disagree, and so do we).
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub description: String,
    pub email: String,
    pub user_status: UserStatus,
    pub user_type: ObjectType,
    pub user_id: String,
    pub create_time: String,
    pub update_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_selected: Option<bool>,
    /// Initial password, only in the CreateUser answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub need_reset_password: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GroupInfo {
    pub group_name: String,
    pub description: String,
    pub create_time: String,
    pub group_type: ObjectType,
    pub update_time: String,
    pub group_id: String,
    pub member_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_selected: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GroupMembers {
    pub user_name: String,
    pub display_name: String,
    pub description: String,
    pub email: String,
    pub user_status: UserStatus,
    pub user_type: ObjectType,
    pub user_id: String,
    pub join_time: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JoinedGroups {
    pub group_name: String,
    pub description: String,
    pub group_id: String,
    pub group_type: ObjectType,
    pub join_time: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RoleConfiguration {
    pub role_configuration_id: String,
    pub role_configuration_name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_selected: Option<bool>,
}

/// Request-side: one (principal, role configuration, account) triple. Every field is optional
/// in the schema; the service needs all of them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RoleAssignmentInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<PrincipalType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_uin: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_configuration_id: Option<String>,
}

impl RoleAssignmentInfo {
    pub fn new(
        role_configuration_id: impl Into<String>,
        principal_type: PrincipalType,
        principal_id: impl Into<String>,
        target_type: TargetType,
        target_uin: u64,
    ) -> Self {
        Self {
            principal_id: Some(principal_id.into()),
            principal_type: Some(principal_type),
            target_uin: Some(target_uin),
            target_type: Some(target_type),
            role_configuration_id: Some(role_configuration_id.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RoleAssignments {
    pub role_configuration_id: String,
    pub role_configuration_name: String,
    pub target_uin: u64,
    pub target_type: TargetType,
    pub principal_id: String,
    pub principal_type: PrincipalType,
    pub principal_name: String,
    pub create_time: String,
    pub update_time: String,
    pub target_name: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RoleConfigurationProvisionings {
    pub deployment_status: DeploymentStatus,
    pub role_configuration_id: String,
    pub role_configuration_name: String,
    pub target_uin: u64,
    pub target_name: String,
    pub create_time: String,
    pub update_time: String,
    pub target_type: TargetType,
}

/// Task of ProvisionRoleConfiguration / DismantleRoleConfiguration. Note the status field is
/// `TaskStatus` here but `Status` in [`TaskInfo`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RoleProvisioningsTask {
    pub task_id: String,
    pub role_configuration_id: String,
    pub role_configuration_name: String,
    pub target_uin: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_status: Option<TaskState>,
}

/// Task of CreateRoleAssignment / DeleteRoleAssignment, and the element of ListTasks.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskInfo {
    pub task_id: String,
    pub role_configuration_id: String,
    pub role_configuration_name: String,
    pub target_uin: u64,
    pub target_type: TargetType,
    pub principal_id: String,
    pub principal_type: PrincipalType,
    pub task_type: String,
    pub status: TaskState,
    /// May be empty even when Failed (a member account that just joined the organization).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskStatus {
    pub status: TaskState,
    pub task_id: String,
    pub task_type: String,
    pub failure_reason: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ZoneStatistics {
    pub user_quota: u64,
    pub group_quota: u64,
    pub role_configuration_quota: u64,
    pub system_policy_per_role_configuration_quota: u64,
    pub user_count: u64,
    pub group_count: u64,
    pub role_configuration_count: u64,
    pub user_provisioning_count: u64,
    pub role_configuration_sync_count: u64,
}

// ---------------------------------------------------------------------------------------------
// Zone
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeIdentityCenter {}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeIdentityCenterResponse {
    pub zone_id: String,
    pub zone_name: String,
    /// `Enabled` | `Disabled`.
    pub service_status: String,
    /// `Enabled` | `Disabled`.
    pub scim_sync_status: String,
    pub create_time: String,
    pub update_time: String,
    pub request_id: String,
}
action!(DescribeIdentityCenter => DescribeIdentityCenterResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetZoneStatistics {
    pub zone_id: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetZoneStatisticsResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_statistics: Option<ZoneStatistics>,
    pub request_id: String,
}
action!(GetZoneStatistics => GetZoneStatisticsResponse);

mod groups;
mod organization;
mod roles;
mod tasks;
mod users;

pub use groups::*;
pub use organization::*;
pub use roles::*;
pub use tasks::*;
pub use users::*;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_serialize_with_api_names_and_skip_absent_fields() {
        let req = CreateUser {
            zone_id: "z-1".into(),
            user_name: "alice".into(),
            email: Some("a@example.com".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"ZoneId": "z-1", "UserName": "alice", "Email": "a@example.com"})
        );
        let req = CreateRoleAssignment {
            zone_id: "z-1".into(),
            role_assignment_info: Some(vec![RoleAssignmentInfo::new(
                "rc-1",
                PrincipalType::Group,
                "g-1",
                TargetType::MemberUin,
                100_000_000_001,
            )]),
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"ZoneId": "z-1", "RoleAssignmentInfo": [{"PrincipalId": "g-1", "PrincipalType": "Group",
                "TargetUin": 100_000_000_001_u64, "TargetType": "MemberUin", "RoleConfigurationId": "rc-1"}]})
        );
    }

    #[test]
    fn requests_reject_unknown_fields() {
        let err = serde_json::from_value::<GetUser>(json!({"ZoneId": "z", "UserId": "u", "Extra": 1})).unwrap_err();
        assert!(err.to_string().starts_with("unknown field `Extra`"), "{err}");
    }

    #[test]
    fn responses_tolerate_missing_fields_and_unknown_states() {
        let resp: TaskStatusResponse =
            serde_json::from_value(json!({"TaskStatus": {"Status": "", "TaskId": "t-1"}, "RequestId": "r"})).unwrap();
        assert_eq!(resp.task_status.status, TaskState::Unknown);
        assert!(!resp.task_status.status.is_terminal());
        let resp: ListUsersResponse =
            serde_json::from_value(json!({"Users": [], "IsTruncated": true, "NextToken": ""})).unwrap();
        let page = ListUsers::into_page(resp);
        assert_eq!(page.next_token, None, "empty token means no more pages");
    }

    #[test]
    fn page_token_only_when_truncated() {
        let resp = ListGroupsResponse {
            next_token: Some("abc".into()),
            is_truncated: false,
            ..Default::default()
        };
        assert_eq!(ListGroups::into_page(resp).next_token, None);
        let resp = ListGroupsResponse {
            next_token: Some("abc".into()),
            is_truncated: true,
            ..Default::default()
        };
        assert_eq!(ListGroups::into_page(resp).next_token.as_deref(), Some("abc"));
    }
}
