//! Unit tests of the emulated organization: the department tree, its actions' paging, filters
//! and errors, and the emulator-only changes to member accounts.

use serde_json::{Value, json};

use super::organization::{MAX_DEPTH, ROOT_NODE_ID, valid_node_name};
use super::tests::{call, code, settings, t0};
use super::*;

const A: u64 = 100_000_000_001;
const B: u64 = 100_000_000_002;
const ZONE: &str = "z-testzone0001";

fn add(s: &mut State, parent: i64, name: &str) -> Outcome<i64> {
    call(s, "AddOrganizationNode", json!({"ParentNodeId": parent, "Name": name}))
        .map(|v| v["NodeId"].as_i64().expect("NodeId"))
}

fn nodes(s: &mut State, body: Value) -> Outcome<Value> {
    call(s, "DescribeOrganizationNodes", body)
}

fn members(s: &mut State, body: Value) -> Value {
    call(s, "DescribeOrganizationMembers", body).expect("DescribeOrganizationMembers")
}

fn uins(answer: &Value) -> Vec<u64> {
    answer["Items"]
        .as_array()
        .expect("Items")
        .iter()
        .map(|m| m["MemberUin"].as_u64().expect("MemberUin"))
        .collect()
}

fn ids(answer: &Value) -> Vec<i64> {
    answer["Items"]
        .as_array()
        .expect("Items")
        .iter()
        .map(|n| n["NodeId"].as_i64().expect("NodeId"))
        .collect()
}

#[test]
fn the_default_tree_is_a_root_holding_every_member() {
    let mut s = State::new(settings(), t0());
    let answer = nodes(&mut s, json!({"Limit": 10})).unwrap();
    assert_eq!(answer["Total"], 1);
    let root = &answer["Items"][0];
    assert_eq!(
        (&root["NodeId"], &root["Name"], &root["ParentNodeId"]),
        (&json!(ROOT_NODE_ID), &json!("Root"), &json!(0))
    );
    assert_eq!(root["CreateTime"], "2023-11-15 06:13:20");
    // Offset and Limit alone answer as before: every member, in the order given.
    let answer = members(&mut s, json!({"Offset": 0, "Limit": 50}));
    assert_eq!((uins(&answer), &answer["Total"]), (vec![A, B], &json!(2)));
    let first = &answer["Items"][0];
    assert_eq!(first["Name"], "member-100000000001");
    assert_eq!(first["MemberType"], "Create");
    assert_eq!(
        (&first["NodeId"], &first["NodeName"]),
        (&json!(ROOT_NODE_ID), &json!("Root"))
    );
    assert_eq!(first["Tags"], json!([]));
}

#[test]
fn paging_checks_limit_and_offset_and_covers_every_node_once() {
    let mut s = State::new(settings(), t0());
    for i in 0..7 {
        add(&mut s, ROOT_NODE_ID, &format!("dept-{i}")).unwrap();
    }
    let mut seen = Vec::new();
    for offset in [0, 3, 6, 9] {
        let page = nodes(&mut s, json!({"Limit": 3, "Offset": offset})).unwrap();
        assert_eq!(page["Total"], 8);
        seen.extend(ids(&page));
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(seen, sorted, "sorted by NodeId, none twice");
    assert_eq!(seen.len(), 8);
    assert_eq!(seen[0], ROOT_NODE_ID);
    assert_eq!(seen[1], 1001, "the first department gets Tencent's example id");

    assert_eq!(
        code(nodes(&mut s, json!({"Limit": 3, "Offset": 2}))),
        "InvalidParameter"
    );
    assert_eq!(code(nodes(&mut s, json!({"Limit": 0}))), "InvalidParameterValue");
    assert_eq!(code(nodes(&mut s, json!({"Limit": 51}))), "InvalidParameterValue");
    assert_eq!(code(nodes(&mut s, json!({"Offset": 0}))), "MissingParameter");
    assert_eq!(
        code(call(
            &mut s,
            "DescribeOrganizationMembers",
            json!({"Offset": 1, "Limit": 2})
        )),
        "InvalidParameter"
    );
    assert_eq!(
        code(call(
            &mut s,
            "DescribeOrganizationMembers",
            json!({"Offset": 0, "Limit": 51})
        )),
        "InvalidParameterValue"
    );
    let second = members(&mut s, json!({"Offset": 1, "Limit": 1}));
    assert_eq!((uins(&second), &second["Total"]), (vec![B], &json!(2)));
}

#[test]
fn tag_filters_need_every_tag() {
    let mut config = settings();
    config.member_tags = vec![
        (A, "env".into(), "prod".into()),
        (A, "team".into(), "pay".into()),
        (B, "env".into(), "prod".into()),
    ];
    let mut s = State::new(config, t0());
    let tagged = |tags: Value| json!({"ParentNodeId": ROOT_NODE_ID, "Name": "x", "Tags": tags});
    let mut body = tagged(json!([{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "cost", "TagValue": "7"}]));
    body["Name"] = json!("Prod");
    call(&mut s, "AddOrganizationNode", body).unwrap();
    let mut body = tagged(json!([{"TagKey": "env", "TagValue": "dev"}]));
    body["Name"] = json!("Dev");
    call(&mut s, "AddOrganizationNode", body).unwrap();

    let prod = json!([{"TagKey": "env", "TagValue": "prod"}]);
    let answer = nodes(&mut s, json!({"Limit": 10, "Tags": prod})).unwrap();
    assert_eq!((ids(&answer), &answer["Total"]), (vec![1001], &json!(1)));
    let both = json!([{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "cost", "TagValue": "8"}]);
    assert_eq!(
        ids(&nodes(&mut s, json!({"Limit": 10, "Tags": both})).unwrap()),
        Vec::<i64>::new()
    );

    assert_eq!(
        uins(&members(&mut s, json!({"Offset": 0, "Limit": 10, "Tags": prod}))),
        vec![A, B]
    );
    let pay = json!([{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "pay"}]);
    assert_eq!(
        uins(&members(&mut s, json!({"Offset": 0, "Limit": 10, "Tags": pay}))),
        vec![A]
    );
    assert_eq!(
        members(&mut s, json!({"Offset": 0, "Limit": 10}))["Items"][0]["Tags"],
        json!([{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "pay"}])
    );

    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"TagKey": format!("k{i}"), "TagValue": "v"}))
        .collect();
    assert_eq!(
        code(nodes(&mut s, json!({"Limit": 10, "Tags": eleven}))),
        "InvalidParameter"
    );
    assert_eq!(
        code(call(&mut s, "AddOrganizationNode", tagged(json!(eleven)))),
        "InvalidParameter.TagError"
    );
    assert_eq!(
        code(call(&mut s, "AddOrganizationNode", tagged(json!([{"TagValue": "v"}])))),
        "InvalidParameter.TagError"
    );
}

#[test]
fn node_names_follow_the_documented_rule() {
    for good in ["Payments", "财务部", "a+b@c&d._[x]-1", &"x".repeat(40)] {
        assert!(valid_node_name(good), "{good}");
    }
    for bad in ["", "two words", "a/b", "a,b", "ü", &"x".repeat(41)] {
        assert!(!valid_node_name(bad), "{bad}");
    }
    let mut s = State::new(settings(), t0());
    assert_eq!(
        code(add(&mut s, ROOT_NODE_ID, "two words").map(Value::from)),
        "InvalidParameter"
    );
    assert_eq!(
        code(add(&mut s, 999, "Orphan").map(Value::from)),
        "InvalidParameter.OrganizationNodeNotExist"
    );
}

#[test]
fn siblings_have_distinct_names_and_depth_and_count_are_limited() {
    let mut s = State::new(settings(), t0());
    let prod = add(&mut s, ROOT_NODE_ID, "Production").unwrap();
    assert_eq!(
        code(add(&mut s, ROOT_NODE_ID, "production").map(Value::from)),
        "FailedOperation.OrganizationNodeNameUsed"
    );
    let staging = add(&mut s, ROOT_NODE_ID, "Staging").unwrap();
    add(&mut s, prod, "Payments").unwrap();
    add(&mut s, staging, "Payments").expect("the same name under another parent");

    let mut parent = prod;
    for level in 2..=MAX_DEPTH {
        parent = add(&mut s, parent, &format!("level-{level}")).unwrap();
    }
    assert_eq!(
        code(add(&mut s, parent, "too-deep").map(Value::from)),
        "LimitExceeded.NodeDepthExceedLimit"
    );

    // settings() allows 20 departments; 8 exist.
    for i in 0..12 {
        add(&mut s, ROOT_NODE_ID, &format!("fill-{i}")).unwrap();
    }
    assert_eq!(
        code(add(&mut s, ROOT_NODE_ID, "one-too-many").map(Value::from)),
        "LimitExceeded.NodeExceedLimit"
    );
}

#[test]
fn update_renames_and_keeps_sibling_names_distinct() {
    let mut s = State::new(settings(), t0());
    let prod = add(&mut s, ROOT_NODE_ID, "Production").unwrap();
    add(&mut s, ROOT_NODE_ID, "Staging").unwrap();
    let later = t0() + std::time::Duration::from_secs(60);
    s.handle(
        "UpdateOrganizationNode",
        json!({"NodeId": prod, "Name": "Prod", "Remark": "live"}),
        later,
    )
    .unwrap();
    let node = &s.snapshot().departments[1];
    assert_eq!((node.name.as_str(), node.remark.as_str()), ("Prod", "live"));
    assert_eq!(
        (node.create_time.as_str(), node.update_time.as_str()),
        ("2023-11-15 06:13:20", "2023-11-15 06:14:20")
    );
    assert_eq!(s.department_id("prod"), Some(prod));
    call(
        &mut s,
        "UpdateOrganizationNode",
        json!({"NodeId": prod, "Name": "PROD"}),
    )
    .expect("its own name");
    assert_eq!(
        code(call(
            &mut s,
            "UpdateOrganizationNode",
            json!({"NodeId": prod, "Name": "staging"})
        )),
        "FailedOperation.OrganizationNodeNameUsed"
    );
    assert_eq!(
        code(call(
            &mut s,
            "UpdateOrganizationNode",
            json!({"NodeId": 4242, "Name": "x"})
        )),
        "FailedOperation.OrganizationNodeNotExist"
    );
    assert_eq!(
        code(call(
            &mut s,
            "UpdateOrganizationNode",
            json!({"NodeId": prod, "Name": "a b"})
        )),
        "InvalidParameter"
    );
}

#[test]
fn delete_is_refused_while_a_node_holds_anything_and_for_the_root() {
    let mut s = State::new(settings(), t0());
    let prod = add(&mut s, ROOT_NODE_ID, "Production").unwrap();
    let pay = add(&mut s, prod, "Payments").unwrap();
    let empty = add(&mut s, ROOT_NODE_ID, "Empty").unwrap();
    call(
        &mut s,
        "MoveOrganizationNodeMembers",
        json!({"NodeId": pay, "MemberUin": [A]}),
    )
    .unwrap();
    let delete = |s: &mut State, ids: Value| call(s, "DeleteOrganizationNodes", json!({"NodeId": ids}));

    assert_eq!(
        code(delete(&mut s, json!([pay]))),
        "FailedOperation.OrganizationNodeNotEmpty"
    );
    assert_eq!(
        code(delete(&mut s, json!([prod]))),
        "FailedOperation.OrganizationNodeNotEmpty"
    );
    assert_eq!(
        code(delete(&mut s, json!([empty, pay]))),
        "FailedOperation.OrganizationNodeNotEmpty"
    );
    assert_eq!(s.snapshot().departments.len(), 4, "a refused request deletes nothing");
    assert_eq!(code(delete(&mut s, json!([ROOT_NODE_ID]))), "InvalidParameter");
    assert_eq!(code(delete(&mut s, json!([]))), "InvalidParameter");
    assert_eq!(
        code(delete(&mut s, json!([4242]))),
        "ResourceNotFound.OrganizationNodeNotExist"
    );

    call(
        &mut s,
        "MoveOrganizationNodeMembers",
        json!({"NodeId": ROOT_NODE_ID, "MemberUin": [A]}),
    )
    .unwrap();
    delete(&mut s, json!([prod, pay, empty])).expect("a subtree deleted together");
    let left: Vec<i64> = s.snapshot().departments.iter().map(|n| n.node_id).collect();
    assert_eq!(left, vec![ROOT_NODE_ID]);
}

#[test]
fn move_places_members_and_the_member_filters_follow() {
    let mut s = State::new(settings(), t0());
    let prod = add(&mut s, ROOT_NODE_ID, "Production").unwrap();
    call(
        &mut s,
        "MoveOrganizationNodeMembers",
        json!({"NodeId": prod, "MemberUin": [B]}),
    )
    .unwrap();
    let answer = members(&mut s, json!({"Offset": 0, "Limit": 10, "NodeId": prod}));
    assert_eq!(uins(&answer), vec![B]);
    assert_eq!(
        (&answer["Items"][0]["NodeId"], &answer["Items"][0]["NodeName"]),
        (&json!(prod), &json!("Production"))
    );
    assert_eq!(
        uins(&members(&mut s, json!({"Offset": 0, "Limit": 10, "NodeName": "Root"}))),
        vec![A]
    );
    assert_eq!(
        uins(&members(&mut s, json!({"Offset": 0, "Limit": 10, "SearchKey": "0002"}))),
        vec![B]
    );
    assert_eq!(
        uins(&members(&mut s, json!({"Offset": 0, "Limit": 10, "NodeId": 4242}))),
        Vec::<u64>::new()
    );

    assert_eq!(
        code(call(
            &mut s,
            "MoveOrganizationNodeMembers",
            json!({"NodeId": 4242, "MemberUin": [A]})
        )),
        "FailedOperation.OrganizationNodeNotExist"
    );
    for outsider in [100_000_000_000_u64, 100_000_000_009] {
        assert_eq!(
            code(call(
                &mut s,
                "MoveOrganizationNodeMembers",
                json!({"NodeId": prod, "MemberUin": [A, outsider]})
            )),
            "FailedOperation.SomeUinsNotInOrganization"
        );
    }
    assert_eq!(
        s.snapshot().members[0].node_id,
        ROOT_NODE_ID,
        "a refused move moves nobody"
    );
    assert_eq!(
        code(call(
            &mut s,
            "MoveOrganizationNodeMembers",
            json!({"NodeId": prod, "MemberUin": []})
        )),
        "InvalidParameter"
    );
}

#[test]
fn the_starting_tree_comes_from_the_settings_and_its_problems_are_reported() {
    let mut config = settings();
    config.member_uins.push(100_000_000_003);
    config.departments = vec![
        ("Production/Payments".into(), vec![B, 100_000_000_003]),
        ("Production".into(), vec![]),
        ("/Sandbox/".into(), vec![A]),
    ];
    config.member_tags = vec![(B, "env".into(), "prod".into())];
    assert!(organization_problems(&config).is_empty());
    let s = State::new(config.clone(), t0());
    let prod = s.department_id("Production").unwrap();
    let pay = s.department_id("Production/Payments").unwrap();
    let sandbox = s.department_id("Sandbox").unwrap();
    assert_eq!((prod, pay, sandbox), (1001, 1002, 1003));
    assert_eq!(s.department_id(""), Some(ROOT_NODE_ID));
    assert_eq!(s.department_id("Payments"), None);
    let snapshot = s.snapshot();
    let placed: Vec<(u64, i64)> = snapshot.members.iter().map(|m| (m.member_uin, m.node_id)).collect();
    assert_eq!(placed, vec![(A, sandbox), (B, pay), (100_000_000_003, pay)]);
    assert_eq!(snapshot.members[1].node_name, "Payments");
    assert_eq!(snapshot.members[1].tags[0].tag_key, "env");
    assert_eq!(snapshot.departments[2].parent_node_id, prod);

    config.departments.push(("Other".into(), vec![100_000_000_009]));
    config.departments.push(("Bad name".into(), vec![]));
    config.departments.push(("Again".into(), vec![A]));
    config.member_tags.push((100_000_000_008, "k".into(), "v".into()));
    config.member_uins.push(config.manager_uin);
    let problems = organization_problems(&config);
    assert_eq!(problems.len(), 5, "{problems:?}");
    let s = State::new(config, t0());
    assert!(s.department_id("Other").is_some(), "the rest still applies");
    assert!(s.department_id("Bad name").is_none());
}

#[test]
fn accounts_join_move_get_tags_and_leave() {
    let mut s = State::new(settings(), t0());
    let rc = call(
        &mut s,
        "CreateRoleConfiguration",
        json!({"ZoneId": ZONE, "RoleConfigurationName": "admin"}),
    )
    .unwrap()["RoleConfigurationInfo"]["RoleConfigurationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let provision = |s: &mut State, uin: u64| {
        call(
            s,
            "ProvisionRoleConfiguration",
            json!({"ZoneId": ZONE, "RoleConfigurationId": rc, "TargetType": "MemberUin", "TargetUin": uin}),
        )
    };
    let new = 100_000_000_003;
    assert_eq!(
        code(provision(&mut s, new)),
        "FailedOperation.OrganizationMemberNotExist"
    );
    s.add_member_account(new, Some("Production/Payments"), t0()).unwrap();
    provision(&mut s, new).expect("a member now");
    let pay = s.department_id("Production/Payments").unwrap();
    assert_eq!(s.snapshot().members[2].node_id, pay);
    assert!(s.add_member_account(new, None, t0()).is_err(), "already a member");
    assert!(
        s.add_member_account(100_000_000_000, None, t0()).is_err(),
        "the admin account"
    );

    s.set_member_tags(new, &[("env", "prod")], t0()).unwrap();
    let tagged = members(
        &mut s,
        json!({"Offset": 0, "Limit": 10, "Tags": [{"TagKey": "env", "TagValue": "prod"}]}),
    );
    assert_eq!(uins(&tagged), vec![new]);
    s.move_member_account(new, "Staging", t0()).unwrap();
    assert_eq!(s.snapshot().members[2].node_name, "Staging");
    assert!(s.move_member_account(100_000_000_009, "Staging", t0()).is_err());

    s.remove_member_account(new).unwrap();
    assert_eq!(
        code(provision(&mut s, new)),
        "FailedOperation.OrganizationMemberNotExist"
    );
    assert_eq!(uins(&members(&mut s, json!({"Offset": 0, "Limit": 10}))), vec![A, B]);
    assert!(s.remove_member_account(new).is_err());
    assert!(s.set_member_tags(new, &[("env", "prod")], t0()).is_err());
}
