//! Role configurations, role assignments and deployments (ProvisionRoleConfiguration).

use super::*;

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
