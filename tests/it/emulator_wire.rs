//! The emulator's wire protocol, driven with hand-built requests: envelopes, headers, bad
//! input, and the signing styles other clients use.

use std::time::Duration;

use cic_bridge::tencent::signer::{self, SigningInput};
use serde_json::Value;

use crate::tencent_harness::*;

struct Raw<'a> {
    action: &'a str,
    version: &'a str,
    body: &'a str,
    content_type: &'a str,
    /// Extra signed headers beyond content-type and host, as (name, value).
    extra_signed: &'a [(&'a str, &'a str)],
    timestamp: i64,
    secret_key: &'a str,
    unsigned_payload: bool,
}

impl Default for Raw<'_> {
    fn default() -> Self {
        Self {
            action: "DescribeIdentityCenter",
            version: "2021-03-31",
            body: "{}",
            content_type: "application/json",
            extra_signed: &[],
            timestamp: time::OffsetDateTime::now_utc().unix_timestamp(),
            secret_key: SECRET_KEY,
            unsigned_payload: false,
        }
    }
}

async fn send_raw(emu: &TestEmulator, raw: Raw<'_>) -> (reqwest::StatusCode, String, Value) {
    let host = emu.addr.to_string();
    let mut signed: Vec<(&str, &str)> = vec![("content-type", raw.content_type), ("host", &host)];
    signed.extend_from_slice(raw.extra_signed);
    let payload: &[u8] = if raw.unsigned_payload {
        b"UNSIGNED-PAYLOAD"
    } else {
        raw.body.as_bytes()
    };
    let sig = signer::sign(
        &SigningInput {
            method: "POST",
            canonical_uri: "/",
            canonical_query: "",
            headers: &signed,
            payload,
            service: "organization",
            timestamp: raw.timestamp,
        },
        raw.secret_key,
    )
    .unwrap();
    let auth = signer::authorization(SECRET_ID, &sig.credential_scope, &sig.signed_headers, &sig.signature);
    let mut request = reqwest::Client::new()
        .post(&emu.url)
        .header("Content-Type", raw.content_type)
        .header("X-TC-Action", raw.action)
        .header("X-TC-Version", raw.version)
        .header("X-TC-Timestamp", raw.timestamp.to_string())
        .header("Authorization", auth)
        .body(raw.body.to_owned());
    if raw.unsigned_payload {
        request = request.header("X-TC-Content-SHA256", "UNSIGNED-PAYLOAD");
    }
    let response = request.send().await.unwrap();
    read(response).await
}

async fn read(response: reqwest::Response) -> (reqwest::StatusCode, String, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    (status, content_type, body)
}

fn error_code(body: &Value) -> &str {
    body["Response"]["Error"]["Code"].as_str().unwrap_or("")
}

fn assert_envelope(status: reqwest::StatusCode, content_type: &str, body: &Value) {
    assert_eq!(status, reqwest::StatusCode::OK, "always HTTP 200");
    assert_eq!(content_type, "application/json", "exactly application/json");
    let request_id = body["Response"]["RequestId"].as_str().expect("RequestId present");
    assert!(
        uuid::Uuid::parse_str(request_id).is_ok(),
        "RequestId is a uuid: {request_id}"
    );
}

#[tokio::test]
async fn success_envelope() {
    let emu = spawn_emulator(|_| {}).await;
    let (status, ct, body) = send_raw(&emu, Raw::default()).await;
    assert_envelope(status, &ct, &body);
    assert_eq!(body["Response"]["ZoneId"], emu.zone());
    assert!(body["Response"].get("Error").is_none());
}

#[tokio::test]
async fn error_envelope_has_only_error_and_request_id() {
    let emu = spawn_emulator(|_| {}).await;
    let (status, ct, body) = send_raw(
        &emu,
        Raw {
            action: "Nope",
            ..Default::default()
        },
    )
    .await;
    assert_envelope(status, &ct, &body);
    assert_eq!(error_code(&body), "InvalidAction");
    let keys: Vec<&String> = body["Response"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2, "Error and RequestId only: {keys:?}");
    assert!(
        body["Response"]["Error"]["Message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn bad_input_gets_common_codes_never_a_crash() {
    let emu = spawn_emulator(|_| {}).await;
    let zone = emu.zone();
    let get_user_unknown = format!(r#"{{"ZoneId":"{zone}","UserId":"u-x","Colour":"blue"}}"#);
    let wrong_type = format!(r#"{{"ZoneId":"{zone}","MaxResults":"ten"}}"#);
    let bad_enum = format!(r#"{{"ZoneId":"{zone}","UserName":"a","UserStatus":"Sleeping"}}"#);
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        ("DescribeIdentityCenter", "2021-03-31", "{not json", "InvalidParameter"),
        ("CreateUser", "2021-03-31", "[]", "InvalidParameter"),
        ("CreateUser", "2021-03-31", "{}", "MissingParameter"),
        ("GetUser", "2021-03-31", &get_user_unknown, "UnknownParameter"),
        ("ListUsers", "2021-03-31", &wrong_type, "InvalidParameter"),
        ("CreateUser", "2021-03-31", &bad_enum, "InvalidParameterValue"),
        ("DescribeIdentityCenter", "2017-03-12", "{}", "NoSuchVersion"),
        ("OpenIdentityCenter", "2021-03-31", "{}", "InvalidAction"),
    ];
    for (action, version, body, code) in cases {
        let (status, ct, reply) = send_raw(
            &emu,
            Raw {
                action,
                version,
                body,
                ..Default::default()
            },
        )
        .await;
        assert_envelope(status, &ct, &reply);
        assert_eq!(error_code(&reply), code, "{action} {body}");
    }
    // The emulator still answers after all of that.
    let (_, _, ok) = send_raw(&emu, Raw::default()).await;
    assert_eq!(error_code(&ok), "");
}

#[tokio::test]
async fn authorization_problems() {
    let emu = spawn_emulator(|_| {}).await;
    let http = reqwest::Client::new();
    let base = || {
        http.post(&emu.url)
            .header("Content-Type", "application/json")
            .header("X-TC-Action", "DescribeIdentityCenter")
            .header("X-TC-Version", "2021-03-31")
            .header(
                "X-TC-Timestamp",
                time::OffsetDateTime::now_utc().unix_timestamp().to_string(),
            )
            .body("{}")
    };
    let (status, ct, body) = read(base().send().await.unwrap()).await;
    assert_envelope(status, &ct, &body);
    assert_eq!(error_code(&body), "AuthFailure.InvalidAuthorization");
    let (_, _, body) = read(base().header("Authorization", "Bearer abc").send().await.unwrap()).await;
    assert_eq!(error_code(&body), "AuthFailure.InvalidAuthorization");
    let only_host = format!(
        "TC3-HMAC-SHA256 Credential={SECRET_ID}/2024-01-01/organization/tc3_request, SignedHeaders=host, Signature=abcd"
    );
    let (_, _, body) = read(base().header("Authorization", only_host).send().await.unwrap()).await;
    assert_eq!(
        error_code(&body),
        "AuthFailure.InvalidAuthorization",
        "content-type and host are the minimum"
    );

    let (_, _, body) = send_raw(
        &emu,
        Raw {
            secret_key: "wrong",
            ..Default::default()
        },
    )
    .await;
    assert_eq!(error_code(&body), "AuthFailure.SignatureFailure");
    let old = time::OffsetDateTime::now_utc().unix_timestamp() - 301;
    let (_, _, body) = send_raw(
        &emu,
        Raw {
            timestamp: old,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(error_code(&body), "AuthFailure.SignatureExpire");
    let future = time::OffsetDateTime::now_utc().unix_timestamp() + 400;
    let (_, _, body) = send_raw(
        &emu,
        Raw {
            timestamp: future,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(error_code(&body), "AuthFailure.SignatureExpire");
    let recent = time::OffsetDateTime::now_utc().unix_timestamp() - 250;
    let (_, _, body) = send_raw(
        &emu,
        Raw {
            timestamp: recent,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(error_code(&body), "", "250 s of skew is accepted");
}

#[tokio::test]
async fn signing_styles_of_other_clients_verify() {
    let emu = spawn_emulator(|_| {}).await;
    // The official demo: charset in Content-Type and X-TC-Action signed (value lower-cased).
    let (_, _, body) = send_raw(
        &emu,
        Raw {
            content_type: "application/json; charset=utf-8",
            extra_signed: &[("x-tc-action", "DescribeIdentityCenter")],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(error_code(&body), "", "{body}");
    // Python SDK style body with spaces and UTF-8.
    let zone = emu.zone();
    let spaced = format!(r#"{{"ZoneId": "{zone}", "UserName": "zhang.san", "DisplayName": "张三"}}"#);
    let (_, _, body) = send_raw(
        &emu,
        Raw {
            action: "CreateUser",
            body: &spaced,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(body["Response"]["UserInfo"]["DisplayName"], "张三");
    // UNSIGNED-PAYLOAD: the body is not covered by the signature.
    let (_, _, body) = send_raw(
        &emu,
        Raw {
            unsigned_payload: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(error_code(&body), "", "{body}");
    // A signed header that was altered in transit fails.
    let (_, _, body) = send_raw(
        &emu,
        Raw {
            extra_signed: &[("x-tc-action", "GetUser")],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(error_code(&body), "AuthFailure.SignatureFailure");
}

#[tokio::test]
async fn non_post_requests_get_an_envelope() {
    let emu = spawn_emulator(|_| {}).await;
    let response = reqwest::get(format!("{}/anything", emu.url)).await.unwrap();
    let (status, ct, body) = read(response).await;
    assert_envelope(status, &ct, &body);
    assert_eq!(error_code(&body), "UnsupportedProtocol");
}

#[tokio::test]
async fn json_envelope_matches_documented_shapes() {
    let emu = spawn_emulator(|_| {}).await;
    let zone = emu.zone();
    let body = format!(r#"{{"ZoneId":"{zone}","MaxResults":1}}"#);
    let (_, _, reply) = send_raw(
        &emu,
        Raw {
            action: "ListUsers",
            body: &body,
            ..Default::default()
        },
    )
    .await;
    let r = &reply["Response"];
    assert_eq!(r["TotalCounts"], 0);
    assert_eq!(r["MaxResults"], 1);
    assert_eq!(r["IsTruncated"], false);
    assert!(r["Users"].as_array().is_some_and(Vec::is_empty));
    assert!(r.get("NextToken").is_none(), "NextToken only when truncated");
    let body = format!(r#"{{"ZoneId":"{zone}","TaskId":"t-abcdefgh1234"}}"#);
    let (_, _, reply) = send_raw(
        &emu,
        Raw {
            action: "GetTaskStatus",
            body: &body,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(error_code(&reply), "ResourceNotFound.RoleConfigurationTaskNotFound");
}

/// The soak's faults and its outside view of the emulator: an injected `RequestLimitExceeded`
/// (not applied), per-task delays spread by `task_delay_jitter`, and `GET /_emulator/tasks` /
/// `GET /_emulator/stats` telling a task whose start answer was lost, and failures the caller
/// provoked, from those the emulator scripted.
#[tokio::test]
async fn soak_faults_and_the_emulator_side_task_list() {
    use cic_bridge::emulator::Fault;
    use cic_bridge::tencent::model::*;
    use cic_bridge::tencent::{CicError, ErrorClass};

    let emu = spawn_emulator(|c| {
        c.settings.task_delay = Duration::from_millis(50);
        c.settings.task_delay_jitter = Duration::from_millis(400);
    })
    .await;
    let client = emu.client();
    let zone = emu.zone();
    let rc = create_role_configuration(&client, &zone, "SoakAdmin").await;

    // RequestLimitExceeded as a fault: throttling class, and nothing created.
    emu.emulator.inject_faults([Fault::RequestLimitExceeded]);
    let create = CreateGroup {
        zone_id: zone.clone(),
        group_name: "soak-group".into(),
        ..Default::default()
    };
    let err = client.call(&create).await.unwrap_err();
    assert_eq!(err.code(), Some("RequestLimitExceeded"), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert!(
        emu.emulator.snapshot().groups.is_empty(),
        "a throttled call is not applied"
    );
    let group = client.call(&create).await.unwrap().group_info.unwrap();

    // A DeleteRoleAssignment whose answer is lost: the task runs anyway and is marked; a blind
    // re-send starts a second task that fails RecordNotFound, unmarked (the caller's doing).
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
            role_assignment_info: Some(vec![entry]),
        })
        .await
        .unwrap();
    wait_task(&client, &zone, &created.tasks[0].task_id).await;
    let delete = DeleteRoleAssignment {
        zone_id: zone.clone(),
        role_configuration_id: rc.role_configuration_id.clone(),
        target_type: TargetType::MemberUin,
        target_uin: MEMBER_A,
        principal_type: PrincipalType::Group,
        principal_id: group.group_id.clone(),
        deprovision_strategy: None,
    };
    emu.emulator.inject_faults([Fault::DropConnection]);
    let err = client.call(&delete).await.unwrap_err();
    assert!(matches!(err, CicError::Transport { .. }), "{err:?}");
    let second = client.call(&delete).await.unwrap().task.unwrap();
    let second = wait_task(&client, &zone, &second.task_id).await;
    assert_eq!(second.status, TaskState::Failed);

    let http = reqwest::Client::new();
    let tasks: Value = http
        .get(format!("{}/_emulator/tasks", emu.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tasks = tasks["Tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    let deletes: Vec<&Value> = tasks
        .iter()
        .filter(|t| t["TaskType"] == "DeleteRoleAssignment")
        .collect();
    assert_eq!(deletes.len(), 2);
    assert_eq!(deletes[0]["Status"], "Success");
    assert_eq!(deletes[0]["RequestFault"], "DropConnection");
    assert_eq!(deletes[1]["Status"], "Failed");
    assert_eq!(deletes[1]["RequestFault"], Value::Null);
    assert!(
        deletes[1]["FailureReason"]
            .as_str()
            .unwrap()
            .starts_with("RecordNotFound"),
        "{:?}",
        deletes[1]
    );
    assert_eq!(deletes[1]["ScriptedFailure"], false);
    assert!(deletes[1]["CreateTime"].is_string() && deletes[1]["SettleTime"].is_string());

    let stats: Value = http
        .get(format!("{}/_emulator/stats", emu.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["Faults"], 2);
    assert_eq!(stats["FaultsByKind"]["RequestLimitExceeded"], 1);
    assert_eq!(stats["FaultsByKind"]["DropConnection"], 1);
    assert_eq!(stats["Calls"]["DeleteRoleAssignment"], 2);
    assert_eq!(stats["Errors"]["CreateGroup:RequestLimitExceeded"], 1);
    assert_eq!(emu.emulator.stats().errors("CreateGroup", "RequestLimitExceeded"), 1);

    // Jitter: tasks started together stay InProgress for different times.
    let mut groups = Vec::new();
    for i in 0..8 {
        groups.push(create_group(&client, &zone, &format!("soak-jitter-{i}")).await);
    }
    let entries: Vec<RoleAssignmentInfo> = groups
        .iter()
        .map(|g| {
            RoleAssignmentInfo::new(
                &rc.role_configuration_id,
                PrincipalType::Group,
                &g.group_id,
                TargetType::MemberUin,
                MEMBER_B,
            )
        })
        .collect();
    let started = client
        .call(&CreateRoleAssignment {
            zone_id: zone.clone(),
            role_assignment_info: Some(entries),
        })
        .await
        .unwrap();
    let ids: Vec<String> = started.tasks.iter().map(|t| t.task_id.clone()).collect();
    let mut seen_mixed = false;
    for _ in 0..100 {
        let states: Vec<TaskState> = emu
            .emulator
            .tasks()
            .into_iter()
            .filter(|t| ids.contains(&t.info.task_id))
            .map(|t| t.info.status)
            .collect();
        let done = states.iter().filter(|s| **s == TaskState::Success).count();
        if done > 0 && done < states.len() {
            seen_mixed = true;
        }
        if done == states.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen_mixed, "with jitter, some tasks settle while others still run");
    assert_eq!(emu.emulator.snapshot().assignments.len(), 8);
}
