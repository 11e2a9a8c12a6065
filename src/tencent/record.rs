//! The Identity Center calls an operation's attempt makes that change something, collected for
//! the audit trail while the attempt runs (a task-local list, so the shared client needs no
//! handle of the caller's).

use std::cell::RefCell;
use std::future::Future;

use serde_json::{Map, Value};

use super::error::CicError;

/// One call that changes something (any action but Get*, List* and Describe*).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub action: &'static str,
    /// What the call acted on: one target, or one per entry of a batch
    /// (`CreateRoleAssignment` takes up to 50 and starts a task for each).
    pub targets: Vec<Target>,
    /// Identity Center's RequestId, when it answered.
    pub request_id: Option<String>,
    /// `None` when the call succeeded; the error code, or `transport`, `timeout`, `http 502`, …
    pub error_code: Option<String>,
}

/// One thing a call acted on.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The request's identifying fields (ids, names, the account, the strategy); never a
    /// password or a description.
    pub fields: Map<String, Value>,
    /// The task the call started for it, if it started one.
    pub task_id: Option<String>,
}

/// Batch requests: the list of entries, and the answer's list of tasks in the same order.
const BATCHES: [(&str, &str); 1] = [("RoleAssignmentInfo", "Tasks")];

/// The request fields a record keeps.
const TARGET_FIELDS: [&str; 13] = [
    "UserId",
    "GroupId",
    "PrincipalId",
    "PrincipalType",
    "TargetUin",
    "TargetType",
    "RoleConfigurationId",
    "UserName",
    "GroupName",
    "DisplayName",
    "UserStatus",
    "DeprovisionStrategy",
    "RoleConfigurationProvisioningType",
];

tokio::task_local! {
    static CALLS: RefCell<Vec<CallRecord>>;
}

/// Runs `f`, collecting the changing calls it makes through any client.
pub async fn recording<F: Future>(f: F) -> (F::Output, Vec<CallRecord>) {
    CALLS
        .scope(RefCell::new(Vec::new()), async move {
            let out = f.await;
            let calls = CALLS.with(|c| c.take());
            (out, calls)
        })
        .await
}

/// Whether calls are being recorded here and `action` changes something.
pub(super) fn wanted(action: &str) -> bool {
    !["Get", "List", "Describe"].iter().any(|p| action.starts_with(p)) && CALLS.try_with(|_| ()).is_ok()
}

/// Records one call (the caller checked [`wanted`]).
pub(super) fn push(action: &'static str, body: &[u8], answer: Option<&[u8]>, outcome: Result<Option<&str>, &CicError>) {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let answer: Value = answer
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .unwrap_or(Value::Null);
    let fields = |v: &Value| -> Map<String, Value> {
        TARGET_FIELDS
            .iter()
            .filter_map(|k| v.get(*k).map(|x| ((*k).to_owned(), x.clone())))
            .collect()
    };
    let batch = BATCHES
        .iter()
        .find_map(|(entries, tasks)| Some((request.get(*entries)?.as_array()?, *tasks)));
    let targets = match batch {
        Some((entries, tasks)) => {
            let tasks = answer.pointer(&format!("/Response/{tasks}")).and_then(Value::as_array);
            entries
                .iter()
                .enumerate()
                .map(|(i, e)| Target {
                    fields: fields(e),
                    task_id: tasks.and_then(|t| t.get(i)).and_then(find_task_id),
                })
                .collect()
        }
        None => vec![Target {
            fields: fields(&request),
            task_id: find_task_id(&answer),
        }],
    };
    let (request_id, error_code) = match outcome {
        Ok(request_id) => (request_id.map(str::to_owned), None),
        Err(e) => (e.request_id().map(str::to_owned), Some(error_code(e))),
    };
    let record = CallRecord {
        action,
        targets,
        request_id,
        error_code,
    };
    let _ = CALLS.try_with(|c| c.borrow_mut().push(record));
}

fn error_code(e: &CicError) -> String {
    match e {
        CicError::Timeout { .. } => "timeout".to_owned(),
        CicError::Transport { .. } => "transport".to_owned(),
        CicError::HttpStatus { status, .. } => format!("http {status}"),
        other => other.code().unwrap_or("error").to_owned(),
    }
}

/// The first `TaskId` in an answer (`Response.TaskInfo.TaskId`, `Response.Tasks[0].TaskId`, …).
fn find_task_id(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(id)) = m.get("TaskId") {
                return Some(id.clone());
            }
            m.values().find_map(find_task_id)
        }
        Value::Array(a) => a.iter().find_map(find_task_id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_changing_calls_inside_a_recording_are_kept() {
        assert!(!wanted("CreateUser"), "nothing records outside a recording");
        let ((), calls) = recording(async {
            assert!(!wanted("ListUsers") && !wanted("GetTaskStatus") && !wanted("DescribeOrganizationNodes"));
            assert!(wanted("CreateRoleAssignment"));
            push(
                "CreateRoleAssignment",
                br#"{"ZoneId":"z-1","RoleAssignmentInfo":[{"PrincipalId":"g-1","TargetUin":100000000002,"RoleConfigurationId":"rc-1"},
                     {"PrincipalId":"g-1","TargetUin":100000000003,"RoleConfigurationId":"rc-1"}]}"#,
                Some(br#"{"Response":{"Tasks":[{"TaskId":"t-9","Status":"InProgress"},{"TaskId":"t-10"}],"RequestId":"r-1"}}"#),
                Ok(Some("r-1")),
            );
            push(
                "CreateUser",
                br#"{"ZoneId":"z-1","UserName":"bob","Password":"x","Description":"d"}"#,
                None,
                Ok(Some("r-2")),
            );
        })
        .await;
        assert_eq!(calls.len(), 2);
        let c = &calls[0];
        assert_eq!(c.request_id.as_deref(), Some("r-1"));
        assert_eq!(c.targets.len(), 2, "one target per batch entry");
        assert_eq!(c.targets[0].task_id.as_deref(), Some("t-9"));
        assert_eq!(c.targets[1].task_id.as_deref(), Some("t-10"));
        assert_eq!(
            c.targets[1].fields.get("TargetUin"),
            Some(&Value::from(100000000003u64))
        );
        let u = &calls[1].targets[0].fields;
        assert_eq!(u.get("UserName"), Some(&Value::from("bob")));
        assert!(!u.contains_key("Password") && !u.contains_key("ZoneId") && !u.contains_key("Description"));
    }
}
