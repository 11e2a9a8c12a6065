//! Task status and task lists of role-configuration work.

use super::*;

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
