//! Unit tests of the emulated zone: request parsing, ids, paging tokens, filters and tasks.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::groups::{GroupFilter, parse_group_filter};
use super::list::{decode_token, encode_token, paginate};
use super::*;

pub(super) fn settings() -> Settings {
    Settings {
        zone_id: "z-testzone0001".into(),
        zone_name: "test".into(),
        manager_uin: 100_000_000_000,
        member_uins: vec![100_000_000_001, 100_000_000_002],
        departments: vec![],
        member_tags: vec![],
        department_limit: 20,
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

pub(super) fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

pub(super) fn call(state: &mut State, action: &str, body: Value) -> Outcome<Value> {
    state.handle(action, body, t0())
}

pub(super) fn code(result: Outcome<Value>) -> &'static str {
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
