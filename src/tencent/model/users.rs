//! User actions (reference section 3: users).

use super::*;

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
