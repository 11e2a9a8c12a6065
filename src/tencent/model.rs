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

/// Element of DescribeOrganizationMembers (only the fields the bridge reads; the real answer
/// has many more, which are ignored).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct OrgMember {
    pub member_uin: u64,
    pub name: String,
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

/// Member accounts of the organization. Offset/Limit pagination (Limit 1-50, Offset a multiple
/// of Limit), unlike the Identity Center lists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeOrganizationMembers {
    pub offset: u64,
    pub limit: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeOrganizationMembersResponse {
    pub items: Vec<OrgMember>,
    pub total: u64,
    pub request_id: String,
}
action!(DescribeOrganizationMembers => DescribeOrganizationMembersResponse);

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateUser {
    pub zone_id: String,
    pub user_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_status: Option<UserStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_type: Option<ObjectType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub need_reset_password: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UserInfoResponse {
    pub user_info: UserInfo,
    pub request_id: String,
}
action!(CreateUser => UserInfoResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetUser {
    pub user_id: String,
    pub zone_id: String,
}
action!(GetUser => UserInfoResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListUsers {
    pub zone_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_status: Option<UserStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_type: Option<ObjectType>,
    /// Free text over user name, email, UserId and description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_type: Option<SortType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListUsersResponse {
    pub total_counts: u64,
    pub max_results: u64,
    pub users: Vec<UserInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub is_truncated: bool,
    pub request_id: String,
}
action!(ListUsers => ListUsersResponse);
paginated!(ListUsers, UserInfo, users);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateUser {
    pub zone_id: String,
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub need_reset_password: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateUserResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_info: Option<UserInfo>,
    pub request_id: String,
}
action!(UpdateUser => UpdateUserResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateUserStatus {
    pub zone_id: String,
    pub user_id: String,
    pub new_user_status: UserStatus,
}

/// Answer of the actions that return nothing but a RequestId.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EmptyResponse {
    pub request_id: String,
}
action!(UpdateUserStatus => EmptyResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeleteUser {
    pub zone_id: String,
    pub user_id: String,
}
action!(DeleteUser => EmptyResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListJoinedGroupsForUser {
    pub zone_id: String,
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListJoinedGroupsForUserResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub total_counts: u64,
    pub max_results: u64,
    pub is_truncated: bool,
    pub joined_groups: Vec<JoinedGroups>,
    pub request_id: String,
}
action!(ListJoinedGroupsForUser => ListJoinedGroupsForUserResponse);
paginated!(ListJoinedGroupsForUser, JoinedGroups, joined_groups);

// ---------------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateGroup {
    pub zone_id: String,
    pub group_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_type: Option<ObjectType>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GroupInfoResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_info: Option<GroupInfo>,
    pub request_id: String,
}
action!(CreateGroup => GroupInfoResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetGroup {
    pub zone_id: String,
    pub group_id: String,
}
action!(GetGroup => GroupInfoResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListGroups {
    pub zone_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u64>,
    /// `GroupName eq X` or `GroupName sw X`, case-insensitive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_type: Option<ObjectType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_users: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_type: Option<SortType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListGroupsResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub groups: Vec<GroupInfo>,
    pub max_results: u64,
    pub total_counts: u64,
    pub is_truncated: bool,
    pub request_id: String,
}
action!(ListGroups => ListGroupsResponse);
paginated!(ListGroups, GroupInfo, groups);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateGroup {
    pub zone_id: String,
    pub group_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_group_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_description: Option<String>,
}
action!(UpdateGroup => GroupInfoResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeleteGroup {
    pub zone_id: String,
    pub group_id: String,
}
action!(DeleteGroup => EmptyResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AddUserToGroup {
    pub zone_id: String,
    pub group_id: String,
    pub user_id: String,
}
action!(AddUserToGroup => EmptyResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RemoveUserFromGroup {
    pub zone_id: String,
    pub group_id: String,
    pub user_id: String,
}
action!(RemoveUserFromGroup => EmptyResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListGroupMembers {
    pub zone_id: String,
    pub group_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_type: Option<ObjectType>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListGroupMembersResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub total_counts: u64,
    pub max_results: u64,
    pub is_truncated: bool,
    pub group_members: Vec<GroupMembers>,
    pub request_id: String,
}
action!(ListGroupMembers => ListGroupMembersResponse);
paginated!(ListGroupMembers, GroupMembers, group_members);

// ---------------------------------------------------------------------------------------------
// Role configurations
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateRoleConfiguration {
    pub zone_id: String,
    pub role_configuration_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Seconds, 900-43200, default 3600.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RoleConfigurationResponse {
    pub role_configuration_info: RoleConfiguration,
    pub request_id: String,
}
action!(CreateRoleConfiguration => RoleConfigurationResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetRoleConfiguration {
    pub zone_id: String,
    pub role_configuration_id: String,
}
action!(GetRoleConfiguration => RoleConfigurationResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListRoleConfigurations {
    pub zone_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_targets: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListRoleConfigurationsResponse {
    pub total_counts: u64,
    pub max_results: u64,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub role_configurations: Vec<RoleConfiguration>,
    pub request_id: String,
}
action!(ListRoleConfigurations => ListRoleConfigurationsResponse);
paginated!(ListRoleConfigurations, RoleConfiguration, role_configurations);

/// International-site field set (the mainland site adds `IsApply`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateRoleConfiguration {
    pub zone_id: String,
    pub role_configuration_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_session_duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_relay_state: Option<String>,
}
action!(UpdateRoleConfiguration => RoleConfigurationResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeleteRoleConfiguration {
    pub zone_id: String,
    pub role_configuration_id: String,
}
action!(DeleteRoleConfiguration => EmptyResponse);

// ---------------------------------------------------------------------------------------------
// Role assignments
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateRoleAssignment {
    pub zone_id: String,
    /// 1-50 entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_assignment_info: Option<Vec<RoleAssignmentInfo>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateRoleAssignmentResponse {
    /// One per entry, in request order.
    pub tasks: Vec<TaskInfo>,
    pub request_id: String,
}
action!(CreateRoleAssignment => CreateRoleAssignmentResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeleteRoleAssignment {
    pub zone_id: String,
    pub role_configuration_id: String,
    pub target_type: TargetType,
    pub target_uin: u64,
    pub principal_type: PrincipalType,
    pub principal_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprovision_strategy: Option<DeprovisionStrategy>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeleteRoleAssignmentResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskInfo>,
    pub request_id: String,
}
action!(DeleteRoleAssignment => DeleteRoleAssignmentResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListRoleAssignments {
    pub zone_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_configuration_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_uin: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<PrincipalType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// Searches role-configuration names only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListRoleAssignmentsResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub total_counts: u64,
    pub max_results: u64,
    pub is_truncated: bool,
    pub role_assignments: Vec<RoleAssignments>,
    pub request_id: String,
}
action!(ListRoleAssignments => ListRoleAssignmentsResponse);
paginated!(ListRoleAssignments, RoleAssignments, role_assignments);

// ---------------------------------------------------------------------------------------------
// Deployment
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProvisionRoleConfiguration {
    pub zone_id: String,
    pub role_configuration_id: String,
    pub target_type: TargetType,
    pub target_uin: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RoleProvisioningTaskResponse {
    pub task: RoleProvisioningsTask,
    pub request_id: String,
}
action!(ProvisionRoleConfiguration => RoleProvisioningTaskResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DismantleRoleConfiguration {
    pub zone_id: String,
    pub role_configuration_id: String,
    pub target_type: TargetType,
    pub target_uin: u64,
}
action!(DismantleRoleConfiguration => RoleProvisioningTaskResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListRoleConfigurationProvisionings {
    pub zone_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_configuration_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_uin: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_status: Option<DeploymentStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListRoleConfigurationProvisioningsResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub total_counts: u64,
    pub max_results: u64,
    pub is_truncated: bool,
    pub role_configuration_provisionings: Vec<RoleConfigurationProvisionings>,
    pub request_id: String,
}
action!(ListRoleConfigurationProvisionings => ListRoleConfigurationProvisioningsResponse);
paginated!(
    ListRoleConfigurationProvisionings,
    RoleConfigurationProvisionings,
    role_configuration_provisionings
);

// ---------------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------------

/// Status of a role-configuration task (assignments and deployments).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetTaskStatus {
    pub zone_id: String,
    pub task_id: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskStatusResponse {
    pub task_status: TaskStatus,
    pub request_id: String,
}
action!(GetTaskStatus => TaskStatusResponse);

/// Status of a CAM user-sync task (not a role task: those give
/// `ResourceNotFound.UserProvisioningTaskNotFound` here).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetProvisioningTaskStatus {
    pub zone_id: String,
    pub task_id: String,
}
action!(GetProvisioningTaskStatus => TaskStatusResponse);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListTasks {
    pub zone_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<PrincipalType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_uin: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_configuration_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TaskState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListTasksResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub total_counts: u64,
    pub max_results: u64,
    pub is_truncated: bool,
    pub tasks: Vec<TaskInfo>,
    pub request_id: String,
}
action!(ListTasks => ListTasksResponse);
paginated!(ListTasks, TaskInfo, tasks);

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
