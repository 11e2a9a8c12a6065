//! The Identity Center client against the emulator over loopback HTTP, action by action and
//! error path by error path.

use std::collections::HashSet;
use std::time::Duration;

use cic_bridge::emulator::Fault;
use cic_bridge::tencent::client::{ClientConfig, Credentials, RateLimits};
use cic_bridge::tencent::clock::ManualClock;
use cic_bridge::tencent::model::*;
use cic_bridge::tencent::{CicError, ErrorClass};

use crate::tencent_harness::*;

#[tokio::test]
async fn describe_identity_center_statistics_and_members() {
    let emu = spawn_emulator(|c| {
        c.settings.member_uins = vec![MEMBER_A, MEMBER_B, 100_000_000_003];
        c.settings.user_limit = 7;
    })
    .await;
    let client = emu.client();
    let ic = client.call(&DescribeIdentityCenter {}).await.unwrap();
    assert_eq!(ic.zone_id, emu.zone());
    assert_eq!(ic.service_status, "Enabled");
    assert_eq!(ic.scim_sync_status, "Disabled");
    assert!(!ic.request_id.is_empty());

    create_user(&client, &emu.zone(), "alice").await;
    let stats = client
        .call(&GetZoneStatistics { zone_id: emu.zone() })
        .await
        .unwrap()
        .zone_statistics
        .unwrap();
    assert_eq!((stats.user_quota, stats.user_count, stats.group_count), (7, 1, 0));

    let members = client.organization_members().await.unwrap();
    let uins: Vec<u64> = members.iter().map(|m| m.member_uin).collect();
    assert_eq!(uins, vec![MEMBER_A, MEMBER_B, 100_000_000_003]);
    assert_api_error(
        client
            .call(&DescribeOrganizationMembers {
                offset: 0,
                limit: 51,
                ..Default::default()
            })
            .await,
        "InvalidParameterValue",
        ErrorClass::Invalid,
    );
    assert_api_error(
        client
            .call(&GetZoneStatistics {
                zone_id: "z-doesnotexist".into(),
            })
            .await,
        "FailedOperation.ZoneIdNotExist",
        ErrorClass::NotFound,
    );
}

#[tokio::test]
async fn user_lifecycle() {
    let emu = spawn_emulator(|_| {}).await;
    let client = emu.client();
    let zone = emu.zone();
    let created = client
        .call(&CreateUser {
            zone_id: zone.clone(),
            user_name: "alice".into(),
            first_name: Some("Alice".into()),
            last_name: Some("Smith".into()),
            display_name: Some("Alice Smith".into()),
            email: Some("alice@example.com".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .user_info;
    assert!(created.user_id.starts_with("u-") && created.user_id.len() == 14);
    assert!(created.password.is_some(), "CreateUser returns the initial password");
    assert_eq!(created.user_type, ObjectType::Manual);

    let got = client
        .call(&GetUser {
            user_id: created.user_id.clone(),
            zone_id: zone.clone(),
        })
        .await
        .unwrap();
    assert_eq!(got.user_info.first_name, "Alice");
    assert_eq!(got.user_info.password, None, "the password is only shown once");

    let updated = client
        .call(&UpdateUser {
            zone_id: zone.clone(),
            user_id: created.user_id.clone(),
            new_display_name: Some("Alice S.".into()),
            new_email: Some("alice.s@example.com".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .user_info
        .unwrap();
    assert_eq!(updated.display_name, "Alice S.");
    assert_eq!(updated.email, "alice.s@example.com");
    assert_eq!(updated.first_name, "Alice", "fields not sent stay unchanged");

    client
        .call(&UpdateUserStatus {
            zone_id: zone.clone(),
            user_id: created.user_id.clone(),
            new_user_status: UserStatus::Disabled,
        })
        .await
        .unwrap();
    let disabled = client
        .list_all(&ListUsers {
            zone_id: zone.clone(),
            user_status: Some(UserStatus::Disabled),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(disabled.len(), 1);
    let found = client
        .list_all(&ListUsers {
            zone_id: zone.clone(),
            filter: Some("ALICE.S@".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "free-text filter matches email, case-insensitively");

    client
        .call(&DeleteUser {
            zone_id: zone.clone(),
            user_id: created.user_id.clone(),
        })
        .await
        .unwrap();
    assert_api_error(
        client
            .call(&GetUser {
                user_id: created.user_id.clone(),
                zone_id: zone.clone(),
            })
            .await,
        "ResourceNotFound.UserNotExist",
        ErrorClass::NotFound,
    );
    assert_api_error(
        client
            .call(&DeleteUser {
                zone_id: zone.clone(),
                user_id: created.user_id,
            })
            .await,
        "ResourceNotFound.UserNotExist",
        ErrorClass::NotFound,
    );
}

#[tokio::test]
async fn user_conflicts_format_and_quota() {
    let emu = spawn_emulator(|c| c.settings.user_limit = 2).await;
    let client = emu.client();
    let zone = emu.zone();
    let alice = create_user(&client, &zone, "alice").await;
    let dup_name = CreateUser {
        zone_id: zone.clone(),
        user_name: "ALICE".into(),
        ..Default::default()
    };
    assert_api_error(
        client.call(&dup_name).await,
        "InvalidParameter.UsernameAlreadyExists",
        ErrorClass::Conflict,
    );
    let dup_email = CreateUser {
        zone_id: zone.clone(),
        user_name: "alice2".into(),
        email: Some("alice@example.com".into()),
        ..Default::default()
    };
    assert_api_error(
        client.call(&dup_email).await,
        "InvalidParameter.EmailAlreadyExists",
        ErrorClass::Conflict,
    );
    let bad = CreateUser {
        zone_id: zone.clone(),
        user_name: "alice smith".into(),
        ..Default::default()
    };
    assert_api_error(
        client.call(&bad).await,
        "InvalidParameter.UsernameFormatError",
        ErrorClass::Invalid,
    );

    let bob = create_user(&client, &zone, "bob").await;
    assert_api_error(
        client
            .call(&UpdateUser {
                zone_id: zone.clone(),
                user_id: bob.user_id.clone(),
                new_email: Some("Alice@Example.com".into()),
                ..Default::default()
            })
            .await,
        "InvalidParameter.EmailAlreadyExists",
        ErrorClass::Conflict,
    );
    let third = CreateUser {
        zone_id: zone.clone(),
        user_name: "carol".into(),
        ..Default::default()
    };
    assert_api_error(
        client.call(&third).await,
        "FailedOperation.UserOverUpperLimit",
        ErrorClass::Quota,
    );
    client
        .call(&DeleteUser {
            zone_id: zone.clone(),
            user_id: alice.user_id,
        })
        .await
        .unwrap();
    client.call(&third).await.expect("capacity returned after a delete");
}

#[tokio::test]
async fn groups_members_and_name_rules() {
    let emu = spawn_emulator(|c| c.settings.group_limit = 3).await;
    let client = emu.client();
    let zone = emu.zone();
    let alice = create_user(&client, &zone, "alice").await;
    let bob = create_user(&client, &zone, "bob").await;
    let devs = create_group(&client, &zone, "dev-team").await;
    assert!(devs.group_id.starts_with("g-") && devs.group_id.len() == 14);
    create_group(&client, &zone, "dev-ops").await;
    create_group(&client, &zone, "finance").await;

    let spaced = CreateGroup {
        zone_id: zone.clone(),
        group_name: "Dev Team".into(),
        ..Default::default()
    };
    assert_api_error(
        client.call(&spaced).await,
        "InvalidParameter.GroupNameFormatError",
        ErrorClass::Invalid,
    );
    let dup = CreateGroup {
        zone_id: zone.clone(),
        group_name: "DEV-TEAM".into(),
        ..Default::default()
    };
    assert_api_error(
        client.call(&dup).await,
        "InvalidParameter.GroupNameAlreadyExists",
        ErrorClass::Conflict,
    );
    let fourth = CreateGroup {
        zone_id: zone.clone(),
        group_name: "legal".into(),
        ..Default::default()
    };
    assert_api_error(
        client.call(&fourth).await,
        "FailedOperation.GroupOverUpperLimit",
        ErrorClass::Quota,
    );

    let sw = client
        .list_all(&ListGroups {
            zone_id: zone.clone(),
            filter: Some("GroupName sw DEV".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(sw.len(), 2);
    let eq = client
        .list_all(&ListGroups {
            zone_id: zone.clone(),
            filter: Some("GroupName eq finance".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(eq.len(), 1);
    assert_api_error(
        client
            .call(&ListGroups {
                zone_id: zone.clone(),
                filter: Some("Name eq x".into()),
                ..Default::default()
            })
            .await,
        "InvalidParameter.ParamError",
        ErrorClass::Invalid,
    );

    let add = |user: &str| AddUserToGroup {
        zone_id: zone.clone(),
        group_id: devs.group_id.clone(),
        user_id: user.into(),
    };
    client.call(&add(&alice.user_id)).await.unwrap();
    client.call(&add(&bob.user_id)).await.unwrap();
    assert_api_error(
        client.call(&add(&alice.user_id)).await,
        "InvalidParameter.GroupUserAlreadyExists",
        ErrorClass::Conflict,
    );
    assert_api_error(
        client.call(&add("u-nosuchuser00")).await,
        "ResourceNotFound.UserNotExist",
        ErrorClass::NotFound,
    );
    assert_api_error(
        client
            .call(&AddUserToGroup {
                zone_id: zone.clone(),
                group_id: "g-nosuchgroup0".into(),
                user_id: alice.user_id.clone(),
            })
            .await,
        "InvalidParameter.GroupNotExist",
        ErrorClass::NotFound,
    );

    let group = client
        .call(&GetGroup {
            zone_id: zone.clone(),
            group_id: devs.group_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(group.group_info.unwrap().member_count, 2);
    let members = client
        .list_all(&ListGroupMembers {
            zone_id: zone.clone(),
            group_id: devs.group_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let names: Vec<&str> = members.iter().map(|m| m.user_name.as_str()).collect();
    assert_eq!(names, vec!["alice", "bob"]);
    let joined = client
        .list_all(&ListJoinedGroupsForUser {
            zone_id: zone.clone(),
            user_id: alice.user_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].group_id, devs.group_id);
    let selected = client
        .call(&ListGroups {
            zone_id: zone.clone(),
            filter_users: Some(vec![bob.user_id.clone()]),
            ..Default::default()
        })
        .await
        .unwrap();
    let flags: Vec<Option<bool>> = selected.groups.iter().map(|g| g.is_selected).collect();
    assert_eq!(flags, vec![Some(true), Some(false), Some(false)]);

    let remove = RemoveUserFromGroup {
        zone_id: zone.clone(),
        group_id: devs.group_id.clone(),
        user_id: bob.user_id.clone(),
    };
    client.call(&remove).await.unwrap();
    assert_api_error(
        client.call(&remove).await,
        "InvalidParameter.GroupUserNotExist",
        ErrorClass::NotFound,
    );

    let renamed = client
        .call(&UpdateGroup {
            zone_id: zone.clone(),
            group_id: devs.group_id.clone(),
            new_group_name: Some("platform".into()),
            new_description: None,
        })
        .await
        .unwrap()
        .group_info
        .unwrap();
    assert_eq!(renamed.group_name, "platform");
    assert_api_error(
        client
            .call(&UpdateGroup {
                zone_id: zone.clone(),
                group_id: devs.group_id.clone(),
                new_group_name: Some("Finance".into()),
                new_description: None,
            })
            .await,
        "InvalidParameter.GroupNameAlreadyExists",
        ErrorClass::Conflict,
    );
}

#[tokio::test]
async fn lenient_group_names_and_synchronized_objects() {
    let emu = spawn_emulator(|c| c.settings.strict_group_names = false).await;
    let client = emu.client();
    let zone = emu.zone();
    let spaced = create_group(&client, &zone, "Dev Team (EU)").await;
    let synced = client
        .call(&CreateUser {
            zone_id: zone.clone(),
            user_name: "sync".into(),
            user_type: Some(ObjectType::Synchronized),
            ..Default::default()
        })
        .await
        .unwrap()
        .user_info;
    assert_api_error(
        client
            .call(&AddUserToGroup {
                zone_id: zone.clone(),
                group_id: spaced.group_id.clone(),
                user_id: synced.user_id.clone(),
            })
            .await,
        "FailedOperation.GroupTypeUserTypeNotMatch",
        ErrorClass::Definitive,
    );
    emu.emulator.set_scim_sync(true);
    assert_api_error(
        client
            .call(&UpdateUserStatus {
                zone_id: zone.clone(),
                user_id: synced.user_id.clone(),
                new_user_status: UserStatus::Disabled,
            })
            .await,
        "FailedOperation.SynchronizedUserNotUpdate",
        ErrorClass::Definitive,
    );
    assert_api_error(
        client
            .call(&DeleteUser {
                zone_id: zone.clone(),
                user_id: synced.user_id.clone(),
            })
            .await,
        "FailedOperation.SynchronizedUserNotDelete",
        ErrorClass::Definitive,
    );
    emu.emulator.set_scim_sync(false);
    client
        .call(&DeleteUser {
            zone_id: zone.clone(),
            user_id: synced.user_id,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn pagination_follows_next_token_past_one_hundred() {
    let emu = spawn_emulator(|_| {}).await;
    let client = emu.client();
    let zone = emu.zone();
    for i in 0..105 {
        create_user(&client, &zone, &format!("user{i:03}")).await;
    }
    let first = client
        .call(&ListUsers {
            zone_id: zone.clone(),
            max_results: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (first.users.len(), first.total_counts, first.is_truncated),
        (100, 105, true)
    );
    assert!(first.next_token.is_some());

    let before = emu.emulator.stats().calls("ListUsers");
    let all = client
        .list_all(&ListUsers {
            zone_id: zone.clone(),
            max_results: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 105);
    assert_eq!(
        all.iter().map(|u| u.user_id.as_str()).collect::<HashSet<_>>().len(),
        105,
        "no duplicates"
    );
    assert_eq!(all[0].user_name, "user000", "CreateTime ascending");
    assert_eq!(emu.emulator.stats().calls("ListUsers") - before, 2);

    let default_pages = client
        .list_all(&ListUsers {
            zone_id: zone.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(default_pages.len(), 105, "default page size 10, eleven pages");

    let desc = client
        .call(&ListUsers {
            zone_id: zone.clone(),
            sort_field: Some("CreateTime".into()),
            sort_type: Some(SortType::Desc),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(desc.users[0].user_name, "user104");
    let by_offset = client
        .call(&ListUsers {
            zone_id: zone.clone(),
            offset: Some(100),
            max_results: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((by_offset.users.len(), by_offset.is_truncated), (5, false));

    assert_api_error(
        client
            .call(&ListUsers {
                zone_id: zone.clone(),
                next_token: Some("not-a-token".into()),
                ..Default::default()
            })
            .await,
        "InvalidParameter.NextTokenInvalid",
        ErrorClass::Invalid,
    );
    for bad in [0, 101] {
        assert_api_error(
            client
                .call(&ListUsers {
                    zone_id: zone.clone(),
                    max_results: Some(bad),
                    ..Default::default()
                })
                .await,
            "InvalidParameterValue",
            ErrorClass::Invalid,
        );
    }
}

#[tokio::test]
async fn role_assignment_deploys_and_tasks_settle() {
    let emu = spawn_emulator(|_| {}).await;
    let client = emu.client();
    let zone = emu.zone();
    let rc = create_role_configuration(&client, &zone, "Admin").await;
    assert!(rc.role_configuration_id.starts_with("rc-"));
    assert_eq!(rc.session_duration, Some(3600));
    let group = create_group(&client, &zone, "admins").await;
    let entry = RoleAssignmentInfo::new(
        &rc.role_configuration_id,
        PrincipalType::Group,
        &group.group_id,
        TargetType::MemberUin,
        MEMBER_A,
    );
    let created = client
        .call(&CreateRoleAssignment {
            zone_id: zone.clone(),
            role_assignment_info: Some(vec![entry.clone()]),
        })
        .await
        .unwrap();
    assert_eq!(created.tasks.len(), 1);
    let task = &created.tasks[0];
    assert_eq!(task.status, TaskState::InProgress);
    assert_eq!(task.task_type, "CreateRoleAssignment");
    assert!(task.task_id.starts_with("t-"));
    // In progress: not yet listed.
    let listed = client
        .list_all(&ListRoleAssignments {
            zone_id: zone.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listed.is_empty());
    let in_progress = client
        .list_all(&ListTasks {
            zone_id: zone.clone(),
            status: Some(TaskState::InProgress),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        in_progress.len(),
        1,
        "ListTasks finds tasks still running (crash recovery)"
    );
    assert_api_error(
        client
            .call(&CreateRoleAssignment {
                zone_id: zone.clone(),
                role_assignment_info: Some(vec![entry.clone()]),
            })
            .await,
        "FailedOperation.RoleConfigurationAuthorizationAlreadyExist",
        ErrorClass::Conflict,
    );

    let done = wait_task(&client, &zone, &task.task_id).await;
    assert_eq!(done.status, TaskState::Success);
    let listed = client
        .list_all(&ListRoleAssignments {
            zone_id: zone.clone(),
            principal_id: Some(group.group_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].principal_name, "admins");
    assert_eq!(listed[0].role_configuration_name, "Admin");
    let deployments = client
        .list_all(&ListRoleConfigurationProvisionings {
            zone_id: zone.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0].deployment_status, DeploymentStatus::Deployed);
    assert_eq!(deployments[0].target_uin, MEMBER_A);
    assert_api_error(
        client
            .call(&CreateRoleAssignment {
                zone_id: zone.clone(),
                role_assignment_info: Some(vec![entry]),
            })
            .await,
        "FailedOperation.RoleConfigurationAuthorizationAlreadyExist",
        ErrorClass::Conflict,
    );

    // A changed role configuration must be re-provisioned.
    client
        .call(&UpdateRoleConfiguration {
            zone_id: zone.clone(),
            role_configuration_id: rc.role_configuration_id.clone(),
            new_session_duration: Some(7200),
            ..Default::default()
        })
        .await
        .unwrap();
    let required = client
        .list_all(&ListRoleConfigurationProvisionings {
            zone_id: zone.clone(),
            deployment_status: Some(DeploymentStatus::DeployedRequired),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(required.len(), 1);
    let provision = client
        .call(&ProvisionRoleConfiguration {
            zone_id: zone.clone(),
            role_configuration_id: rc.role_configuration_id.clone(),
            target_type: TargetType::MemberUin,
            target_uin: MEMBER_A,
        })
        .await
        .unwrap()
        .task;
    assert_eq!(provision.task_status, Some(TaskState::InProgress));
    assert_eq!(provision.task_type.as_deref(), Some("ProvisionRoleConfiguration"));
    assert_eq!(
        wait_task(&client, &zone, &provision.task_id).await.status,
        TaskState::Success
    );
    let after = client
        .list_all(&ListRoleConfigurationProvisionings {
            zone_id: zone.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(after[0].deployment_status, DeploymentStatus::Deployed);

    // Delete ordering: the role configuration cannot be dismantled or deleted while used.
    let dismantle = DismantleRoleConfiguration {
        zone_id: zone.clone(),
        role_configuration_id: rc.role_configuration_id.clone(),
        target_type: TargetType::MemberUin,
        target_uin: MEMBER_A,
    };
    assert_api_error(
        client.call(&dismantle).await,
        "FailedOperation.RoleConfigurationAuthorizationExist",
        ErrorClass::Dependency,
    );
    assert_api_error(
        client
            .call(&DeleteGroup {
                zone_id: zone.clone(),
                group_id: group.group_id.clone(),
            })
            .await,
        "FailedOperation.RoleConfigurationAuthorizationExist",
        ErrorClass::Dependency,
    );
    assert_api_error(
        client
            .call(&DeleteRoleConfiguration {
                zone_id: zone.clone(),
                role_configuration_id: rc.role_configuration_id.clone(),
            })
            .await,
        "FailedOperation.RoleConfigurationProvisioningAlreadyDeployed",
        ErrorClass::Dependency,
    );

    let delete = DeleteRoleAssignment {
        zone_id: zone.clone(),
        role_configuration_id: rc.role_configuration_id.clone(),
        target_type: TargetType::MemberUin,
        target_uin: MEMBER_A,
        principal_type: PrincipalType::Group,
        principal_id: group.group_id.clone(),
        deprovision_strategy: Some(DeprovisionStrategy::DeprovisionForLastRoleAssignmentOnAccount),
    };
    let task = client.call(&delete).await.unwrap().task.unwrap();
    assert_eq!(task.task_type, "DeleteRoleAssignment");
    assert_eq!(
        wait_task(&client, &zone, &task.task_id).await.status,
        TaskState::Success
    );
    assert!(emu.emulator.snapshot().assignments.is_empty());
    assert!(
        emu.emulator.snapshot().deployments.is_empty(),
        "last assignment removed the deployment"
    );
    assert_api_error(
        client.call(&delete).await,
        "ResourceNotFound.RoleConfigurationAuthorizationNotFound",
        ErrorClass::NotFound,
    );
    assert_api_error(
        client.call(&dismantle).await,
        "ResourceNotFound.RoleConfigurationProvisioningNotFound",
        ErrorClass::NotFound,
    );
    client
        .call(&DeleteGroup {
            zone_id: zone.clone(),
            group_id: group.group_id,
        })
        .await
        .unwrap();
    client
        .call(&DeleteRoleConfiguration {
            zone_id: zone.clone(),
            role_configuration_id: rc.role_configuration_id,
        })
        .await
        .unwrap();

    let tasks = client
        .list_all(&ListTasks {
            zone_id: zone.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tasks.len(), 3);
    assert!(tasks.iter().all(|t| t.status == TaskState::Success));
    assert_api_error(
        client
            .call(&GetTaskStatus {
                zone_id: zone.clone(),
                task_id: "t-nosuchtask00".into(),
            })
            .await,
        "ResourceNotFound.RoleConfigurationTaskNotFound",
        ErrorClass::NotFound,
    );
    assert_api_error(
        client
            .call(&GetProvisioningTaskStatus {
                zone_id: zone.clone(),
                task_id: task.task_id,
            })
            .await,
        "ResourceNotFound.UserProvisioningTaskNotFound",
        ErrorClass::NotFound,
    );
}

#[tokio::test]
async fn assignment_validation_errors() {
    let emu = spawn_emulator(|_| {}).await;
    let client = emu.client();
    let zone = emu.zone();
    let rc = create_role_configuration(&client, &zone, "ReadOnly").await;
    let user = create_user(&client, &zone, "alice").await;
    let assign = |info: RoleAssignmentInfo| CreateRoleAssignment {
        zone_id: zone.clone(),
        role_assignment_info: Some(vec![info]),
    };
    let rcid = rc.role_configuration_id.as_str();
    assert_api_error(
        client
            .call(&assign(RoleAssignmentInfo::new(
                rcid,
                PrincipalType::User,
                &user.user_id,
                TargetType::MemberUin,
                999,
            )))
            .await,
        "FailedOperation.OrganizationMemberNotExist",
        ErrorClass::NotFound,
    );
    assert_api_error(
        client
            .call(&assign(RoleAssignmentInfo::new(
                rcid,
                PrincipalType::User,
                &user.user_id,
                TargetType::ManagerUin,
                MEMBER_A,
            )))
            .await,
        "FailedOperation.OrganizationMemberNotExist",
        ErrorClass::NotFound,
    );
    assert_api_error(
        client
            .call(&assign(RoleAssignmentInfo::new(
                "rc-nosuchrc0000",
                PrincipalType::User,
                &user.user_id,
                TargetType::MemberUin,
                MEMBER_A,
            )))
            .await,
        "InvalidParameter.RoleConfigurationNotExist",
        ErrorClass::NotFound,
    );
    assert_api_error(
        client
            .call(&assign(RoleAssignmentInfo::new(
                rcid,
                PrincipalType::Group,
                "g-nosuchgroup0",
                TargetType::MemberUin,
                MEMBER_A,
            )))
            .await,
        "InvalidParameter.GroupNotExist",
        ErrorClass::NotFound,
    );
    let mut partial = RoleAssignmentInfo::new(
        rcid,
        PrincipalType::User,
        &user.user_id,
        TargetType::MemberUin,
        MEMBER_A,
    );
    partial.target_uin = None;
    assert_api_error(
        client.call(&assign(partial)).await,
        "MissingParameter",
        ErrorClass::Invalid,
    );
    assert_api_error(
        client
            .call(&CreateRoleAssignment {
                zone_id: zone.clone(),
                role_assignment_info: Some(vec![]),
            })
            .await,
        "InvalidParameterValue",
        ErrorClass::Invalid,
    );
    let too_many = vec![
        RoleAssignmentInfo::new(
            rcid,
            PrincipalType::User,
            &user.user_id,
            TargetType::MemberUin,
            MEMBER_A
        );
        51
    ];
    assert_api_error(
        client
            .call(&CreateRoleAssignment {
                zone_id: zone.clone(),
                role_assignment_info: Some(too_many),
            })
            .await,
        "InvalidParameterValue",
        ErrorClass::Invalid,
    );
    // The admin account is a valid target with TargetType ManagerUin.
    let ok = client
        .call(&assign(RoleAssignmentInfo::new(
            rcid,
            PrincipalType::User,
            &user.user_id,
            TargetType::ManagerUin,
            MANAGER,
        )))
        .await
        .unwrap();
    assert_eq!(
        wait_task(&client, &zone, &ok.tasks[0].task_id).await.status,
        TaskState::Success
    );
    assert_api_error(
        client
            .call(&DeleteUser {
                zone_id: zone.clone(),
                user_id: user.user_id.clone(),
            })
            .await,
        "FailedOperation.RoleConfigurationAuthorizationExist",
        ErrorClass::Dependency,
    );
    let bad_name = CreateRoleConfiguration {
        zone_id: zone.clone(),
        role_configuration_name: "Read Only".into(),
        ..Default::default()
    };
    assert_api_error(
        client.call(&bad_name).await,
        "InvalidParameter.ConfigurationNameFormatError",
        ErrorClass::Invalid,
    );
    let dup = CreateRoleConfiguration {
        zone_id: zone.clone(),
        role_configuration_name: "readonly".into(),
        ..Default::default()
    };
    assert_api_error(
        client.call(&dup).await,
        "InvalidParameter.ConfigurationNameAlreadyExists",
        ErrorClass::Conflict,
    );
    let short = CreateRoleConfiguration {
        zone_id: zone.clone(),
        role_configuration_name: "Short".into(),
        session_duration: Some(60),
        ..Default::default()
    };
    assert_api_error(client.call(&short).await, "InvalidParameterValue", ErrorClass::Invalid);
}

#[tokio::test]
async fn delete_ordering_for_users_and_groups() {
    let emu = spawn_emulator(|_| {}).await;
    let client = emu.client();
    let zone = emu.zone();
    let user = create_user(&client, &zone, "alice").await;
    let group = create_group(&client, &zone, "team").await;
    client
        .call(&AddUserToGroup {
            zone_id: zone.clone(),
            group_id: group.group_id.clone(),
            user_id: user.user_id.clone(),
        })
        .await
        .unwrap();
    assert_api_error(
        client
            .call(&DeleteUser {
                zone_id: zone.clone(),
                user_id: user.user_id.clone(),
            })
            .await,
        "InvalidParameter.UserAlreadyExistsGroup",
        ErrorClass::Dependency,
    );
    assert_api_error(
        client
            .call(&DeleteGroup {
                zone_id: zone.clone(),
                group_id: group.group_id.clone(),
            })
            .await,
        "FailedOperation.DeleteGroupNotAllowExistUser",
        ErrorClass::Dependency,
    );
    client
        .call(&RemoveUserFromGroup {
            zone_id: zone.clone(),
            group_id: group.group_id.clone(),
            user_id: user.user_id.clone(),
        })
        .await
        .unwrap();
    client
        .call(&DeleteUser {
            zone_id: zone.clone(),
            user_id: user.user_id,
        })
        .await
        .unwrap();
    client
        .call(&DeleteGroup {
            zone_id: zone.clone(),
            group_id: group.group_id.clone(),
        })
        .await
        .unwrap();
    assert_api_error(
        client
            .call(&GetGroup {
                zone_id: zone.clone(),
                group_id: group.group_id,
            })
            .await,
        "InvalidParameter.GroupNotExist",
        ErrorClass::NotFound,
    );
}

#[tokio::test]
async fn failed_tasks_and_racing_deletes() {
    let emu = spawn_emulator(|_| {}).await;
    let client = emu.client();
    let zone = emu.zone();
    let rc = create_role_configuration(&client, &zone, "Admin").await;
    let user = create_user(&client, &zone, "alice").await;
    let rcid = rc.role_configuration_id.clone();

    // A member that just joined: the task fails with an EMPTY FailureReason.
    emu.emulator.fail_tasks_on_account(MEMBER_B, None);
    let info = RoleAssignmentInfo::new(
        &rcid,
        PrincipalType::User,
        &user.user_id,
        TargetType::MemberUin,
        MEMBER_B,
    );
    let created = client
        .call(&CreateRoleAssignment {
            zone_id: zone.clone(),
            role_assignment_info: Some(vec![info.clone()]),
        })
        .await
        .unwrap();
    let status = wait_task(&client, &zone, &created.tasks[0].task_id).await;
    assert_eq!((status.status, status.failure_reason.as_str()), (TaskState::Failed, ""));
    assert!(emu.emulator.snapshot().assignments.is_empty());
    let provision = ProvisionRoleConfiguration {
        zone_id: zone.clone(),
        role_configuration_id: rcid.clone(),
        target_type: TargetType::MemberUin,
        target_uin: MEMBER_B,
    };
    emu.emulator
        .fail_tasks_on_account(MEMBER_B, Some("account is not ready".into()));
    let task = client.call(&provision).await.unwrap().task;
    let status = wait_task(&client, &zone, &task.task_id).await;
    assert_eq!(
        (status.status, status.failure_reason.as_str()),
        (TaskState::Failed, "account is not ready")
    );
    let failed = client
        .list_all(&ListRoleConfigurationProvisionings {
            zone_id: zone.clone(),
            deployment_status: Some(DeploymentStatus::DeployFailed),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    let failed_tasks = client
        .list_all(&ListTasks {
            zone_id: zone.clone(),
            status: Some(TaskState::Failed),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed_tasks.len(), 2);

    // The retry after propagation succeeds.
    emu.emulator.stop_failing_tasks_on_account(MEMBER_B);
    let created = client
        .call(&CreateRoleAssignment {
            zone_id: zone.clone(),
            role_assignment_info: Some(vec![info]),
        })
        .await
        .unwrap();
    assert_eq!(
        wait_task(&client, &zone, &created.tasks[0].task_id).await.status,
        TaskState::Success
    );

    // Two deletes racing: the loser fails with RecordNotFound.
    let delete = DeleteRoleAssignment {
        zone_id: zone.clone(),
        role_configuration_id: rcid.clone(),
        target_type: TargetType::MemberUin,
        target_uin: MEMBER_B,
        principal_type: PrincipalType::User,
        principal_id: user.user_id.clone(),
        deprovision_strategy: Some(DeprovisionStrategy::DeprovisionForLastRoleAssignmentOnAccount),
    };
    let first = client.call(&delete).await.unwrap().task.unwrap();
    let second = client.call(&delete).await.unwrap().task.unwrap();
    let first = wait_task(&client, &zone, &first.task_id).await;
    let second = wait_task(&client, &zone, &second.task_id).await;
    assert_eq!(first.status, TaskState::Success);
    assert_eq!(second.status, TaskState::Failed);
    assert!(
        second.failure_reason.contains("RecordNotFound"),
        "{}",
        second.failure_reason
    );
}

#[tokio::test]
async fn emulator_throttles_per_action_without_the_client_limiter() {
    let emu = spawn_emulator(|c| {
        c.rate_limit = 5;
        c.task_status_rate_limit = 220;
    })
    .await;
    let client = emu.client();
    let zone = emu.zone();
    let client = &client;
    let calls = (0..15).map(|_| {
        let request = GetZoneStatistics { zone_id: zone.clone() };
        async move { client.call(&request).await }
    });
    let results = futures_util::future::join_all(calls).await;
    let throttled: Vec<&CicError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        throttled.len() >= 8,
        "at most ~5 of 15 pass, got {} errors",
        throttled.len()
    );
    for err in &throttled {
        assert_eq!(api_code(err), "RequestLimitExceeded");
        assert_eq!(err.class(), ErrorClass::Retryable);
    }
    assert_eq!(
        emu.emulator.stats().throttled("GetZoneStatistics"),
        throttled.len() as u64
    );
    // Another action has its own bucket, and the task-status actions their higher limit.
    client.call(&DescribeIdentityCenter {}).await.unwrap();
    let polls = (0..30).map(|_| {
        let request = GetTaskStatus {
            zone_id: zone.clone(),
            task_id: "t-nosuchtask00".into(),
        };
        async move { client.call(&request).await }
    });
    for result in futures_util::future::join_all(polls).await {
        assert_eq!(
            api_code(&result.unwrap_err()),
            "ResourceNotFound.RoleConfigurationTaskNotFound"
        );
    }
    assert_eq!(emu.emulator.stats().throttled("GetTaskStatus"), 0);
}

#[tokio::test]
async fn client_limiter_keeps_under_the_documented_rate() {
    let emu = spawn_emulator(|c| {
        c.rate_limit = 20;
        c.task_status_rate_limit = 220;
    })
    .await;
    let client = emu.client_with(Credentials::new(SECRET_ID, SECRET_KEY), |c| {
        c.rate_limits = RateLimits::default()
    });
    let zone = emu.zone();
    let started = std::time::Instant::now();
    let client = &client;
    let calls = (0..30).map(|_| {
        let request = GetZoneStatistics { zone_id: zone.clone() };
        async move { client.call(&request).await }
    });
    for result in futures_util::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(emu.emulator.stats().total_throttled(), 0);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "30 calls at 20/s with burst 10 take about 1 s"
    );
}

#[tokio::test]
async fn signature_and_credential_failures() {
    let emu = spawn_emulator(|_| {}).await;
    let zone = emu.zone();
    let wrong_key = emu.client_with(Credentials::new(SECRET_ID, "not-the-key"), |_| {});
    assert_api_error(
        wrong_key.call(&GetZoneStatistics { zone_id: zone.clone() }).await,
        "AuthFailure.SignatureFailure",
        ErrorClass::Auth,
    );
    let unknown = emu.client_with(Credentials::new("AKIDunknown", SECRET_KEY), |_| {});
    assert_api_error(
        unknown.call(&GetZoneStatistics { zone_id: zone.clone() }).await,
        "AuthFailure.SecretIdNotFound",
        ErrorClass::Auth,
    );
    let with_token = emu.client_with(
        Credentials::new(SECRET_ID, SECRET_KEY).with_session_token("tok"),
        |_| {},
    );
    assert_api_error(
        with_token.call(&GetZoneStatistics { zone_id: zone.clone() }).await,
        "AuthFailure.TokenFailure",
        ErrorClass::Auth,
    );

    // A client clock 10 minutes behind: expired, re-signed once (still skewed), expired again.
    let before = emu.emulator.stats().auth_failures;
    let skewed = emu
        .client_with(Credentials::new(SECRET_ID, SECRET_KEY), |_| {})
        .with_clock(std::sync::Arc::new(ManualClock::offset(time::Duration::minutes(-10))));
    assert_api_error(
        skewed.call(&GetZoneStatistics { zone_id: zone.clone() }).await,
        "AuthFailure.SignatureExpire",
        ErrorClass::Auth,
    );
    assert_eq!(
        emu.emulator.stats().auth_failures - before,
        2,
        "one fresh re-sign, no more"
    );
    // Four minutes is within the 300 s window.
    let slightly = emu
        .client_with(Credentials::new(SECRET_ID, SECRET_KEY), |_| {})
        .with_clock(std::sync::Arc::new(ManualClock::offset(time::Duration::minutes(4))));
    slightly
        .call(&GetZoneStatistics { zone_id: zone.clone() })
        .await
        .unwrap();
}

#[tokio::test]
async fn session_token_is_required_when_configured() {
    let emu = spawn_emulator(|c| {
        c.credentials[0].session_token = Some(secrecy::SecretString::from("sts-token".to_owned()));
    })
    .await;
    let zone = emu.zone();
    let without = emu.client();
    assert_api_error(
        without.call(&GetZoneStatistics { zone_id: zone.clone() }).await,
        "AuthFailure.TokenFailure",
        ErrorClass::Auth,
    );
    let wrong = emu.client_with(
        Credentials::new(SECRET_ID, SECRET_KEY).with_session_token("other"),
        |_| {},
    );
    assert_api_error(
        wrong.call(&GetZoneStatistics { zone_id: zone.clone() }).await,
        "AuthFailure.TokenFailure",
        ErrorClass::Auth,
    );
    let right = emu.client_with(
        Credentials::new(SECRET_ID, SECRET_KEY).with_session_token("sts-token"),
        |_| {},
    );
    right.call(&GetZoneStatistics { zone_id: zone }).await.unwrap();
}

#[tokio::test]
async fn injected_faults_are_retryable_and_a_lost_create_is_found_by_lookup() {
    let emu = spawn_emulator(|_| {}).await;
    let client = emu.client_with(Credentials::new(SECRET_ID, SECRET_KEY), |c| {
        c.request_timeout = Duration::from_millis(400)
    });
    let zone = emu.zone();
    emu.emulator.inject_faults([
        Fault::InternalError,
        Fault::ServiceUnavailable,
        Fault::Slow(Duration::from_millis(1500)),
    ]);
    let request = GetZoneStatistics { zone_id: zone.clone() };
    let stats = || client.call(&request);
    assert_api_error(stats().await, "InternalError", ErrorClass::Retryable);
    let err = stats().await.unwrap_err();
    assert!(matches!(err, CicError::HttpStatus { status: 503, .. }), "{err:?}");
    assert!(err.class().is_retryable());
    let err = stats().await.unwrap_err();
    assert!(matches!(err, CicError::Timeout { .. }), "{err:?}");
    assert!(err.class().is_retryable());
    stats().await.unwrap();

    // The connection drops after CreateUser was applied: re-sending conflicts, a lookup finds it.
    emu.emulator.inject_faults([Fault::DropConnection]);
    let create = CreateUser {
        zone_id: zone.clone(),
        user_name: "alice".into(),
        ..Default::default()
    };
    let err = client.call(&create).await.unwrap_err();
    assert!(matches!(err, CicError::Transport { .. }), "{err:?}");
    assert!(err.class().is_retryable());
    assert_api_error(
        client.call(&create).await,
        "InvalidParameter.UsernameAlreadyExists",
        ErrorClass::Conflict,
    );
    let found = client
        .list_all(&ListUsers {
            zone_id: zone.clone(),
            filter: Some("alice".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(emu.emulator.stats().faults, 4);
}

#[tokio::test]
async fn random_faults_give_way_to_retries() {
    let emu = spawn_emulator(|c| {
        c.fault_rate = 0.5;
        c.slow_answer = Duration::from_millis(20);
    })
    .await;
    let client = emu.client();
    let zone = emu.zone();
    let mut successes = 0;
    let mut retryable_failures = 0;
    for _ in 0..10 {
        for attempt in 0.. {
            assert!(attempt < 30, "a call should succeed within 30 attempts at 50% faults");
            match client.call(&GetZoneStatistics { zone_id: zone.clone() }).await {
                Ok(_) => {
                    successes += 1;
                    break;
                }
                Err(e) => {
                    assert!(e.class().is_retryable(), "fault must be retryable: {e:?}");
                    retryable_failures += 1;
                }
            }
        }
    }
    assert_eq!(successes, 10);
    assert!(
        retryable_failures > 0,
        "a 50% fault rate over 10+ calls injects something"
    );
    assert!(emu.emulator.stats().faults >= retryable_failures);
}

#[tokio::test]
async fn unreachable_endpoint_is_a_retryable_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = cic_bridge::tencent::CicClient::new(
        ClientConfig {
            endpoint: format!("http://{addr}"),
            connect_timeout: Duration::from_millis(500),
            ..Default::default()
        },
        Credentials::new(SECRET_ID, SECRET_KEY),
    )
    .unwrap();
    let err = client.call(&DescribeIdentityCenter {}).await.unwrap_err();
    assert!(
        matches!(err, CicError::Transport { .. } | CicError::Timeout { .. }),
        "{err:?}"
    );
    assert!(err.class().is_retryable());
}
