//! Group and membership actions.

use super::*;

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
