//! An Identity Center (or Organization) HTTP 200 answer body as `CicClient::send_once` reads
//! it: `decode_envelope` into the typed response of several actions, pages taken out of the
//! `List*` answers as `list_all` does, errors classified for the engine's retry decisions, and
//! the organization's departments and members built into the tree the rules resolve against.
#![no_main]

use cic_bridge::config::DepartmentRef;
use cic_bridge::engine::op_error;
use cic_bridge::engine::organization::Organization;
use cic_bridge::engine::rules::Selection;
use cic_bridge::tencent::CicError;
use cic_bridge::tencent::client::decode_envelope;
use cic_bridge::tencent::error::classify_code;
use cic_bridge::tencent::model::{
    Action, CreateRoleAssignment, DescribeOrganizationMembers, DescribeOrganizationNodes, GetTaskStatus, GetUser,
    GetZoneStatistics, ListGroupMembers, ListRoleAssignments, ListTasks, ListUsers, Paginated,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    page::<ListUsers>(data);
    page::<ListGroupMembers>(data);
    page::<ListRoleAssignments>(data);
    page::<ListTasks>(data);
    one::<GetUser>(data);
    one::<GetTaskStatus>(data);
    one::<CreateRoleAssignment>(data);
    one::<GetZoneStatistics>(data);
    let nodes = one::<DescribeOrganizationNodes>(data).map(|r| r.items);
    let members = one::<DescribeOrganizationMembers>(data).map(|r| r.items);
    if nodes.is_some() || members.is_some() {
        organization(Organization::from_api(
            nodes.unwrap_or_default(),
            members.unwrap_or_default(),
        ));
    }
});

fn one<A: Action>(data: &[u8]) -> Option<A::Response> {
    match decode_envelope::<A::Response>(A::NAME, data) {
        Ok((answer, _request_id)) => Some(answer),
        Err(e) => {
            error(&e);
            None
        }
    }
}

fn page<A: Paginated>(data: &[u8]) {
    if let Some(answer) = one::<A>(data) {
        let page = A::into_page(answer);
        assert!(
            page.next_token.as_deref() != Some(""),
            "an empty NextToken would be followed"
        );
    }
}

fn error(e: &CicError) {
    let class = e.class();
    if let Some(api) = e.api() {
        assert_eq!(class, classify_code(&api.code));
        assert!(!api.code.is_empty(), "an API error without a code: {e}");
    }
    let _ = class.is_retryable();
    let recorded = op_error(e);
    assert_eq!(recorded.code.as_deref(), e.code());
    let _ = e.to_string();
}

/// What the rules do with a snapshot: name each department by path and by id, and select the
/// accounts of each (with sub-departments), whatever shape the answer's tree has.
fn organization(org: Organization) {
    let _ = org.uins();
    for d in org.departments.iter().take(64) {
        let path = org.path(d.id);
        let _ = org.find(&DepartmentRef::Id(d.id));
        let _ = org.find(&DepartmentRef::Path(path.clone()));
        let selection = Selection {
            departments: vec![DepartmentRef::Path(path), DepartmentRef::Id(d.id)],
            include_sub_departments: true,
            tags: d
                .name
                .split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into_iter()
                .collect(),
            exclude: Vec::new(),
        };
        let _ = org.select(&selection);
    }
}
