//! The Organization actions over the wire, through the bridge's own client: signatures,
//! throttling and scripted faults reach them as they reach every other action.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::tencent::CicClient;
use crate::tencent::client::{ClientConfig, Credentials, RateLimits};
use crate::tencent::model::*;

const ID: &str = "AKIDorgwiretest00001";
const KEY: &str = "org-wire-test-key";

async fn spawn(rate_limit: u32) -> (Emulator, SocketAddr, CancellationToken) {
    let mut config = EmulatorConfig::new(EmulatorCredential::new(ID, KEY));
    config.rate_limit = rate_limit;
    config.settings.departments = vec![("Production".into(), vec![DEFAULT_MEMBER_UINS[1]])];
    config.settings.member_tags = vec![(DEFAULT_MEMBER_UINS[1], "env".into(), "prod".into())];
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let emulator = Emulator::new(config);
    let shutdown = CancellationToken::new();
    tokio::spawn(emulator.clone().serve(listener, shutdown.clone()));
    (emulator, addr, shutdown)
}

fn client(addr: SocketAddr, key: &str) -> CicClient {
    let config = ClientConfig {
        endpoint: format!("http://{addr}"),
        region: None,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        rate_limits: RateLimits::unlimited(),
        language: None,
    };
    CicClient::new(config, Credentials::new(ID, key)).unwrap()
}

#[tokio::test]
async fn organization_actions_are_signed_throttled_and_faulted_like_the_others() {
    let (emulator, addr, shutdown) = spawn(0).await;
    let client = client(addr, KEY);
    let nodes = client.organization_nodes().await.unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["Root", "Production"]);
    let members = client.organization_members().await.unwrap();
    assert_eq!(
        (members[1].node_name.as_str(), members[1].tags[0].tag_value.as_str()),
        ("Production", "prod")
    );

    emulator.inject_fault_on("AddOrganizationNode", Fault::InternalError);
    let add = AddOrganizationNode {
        parent_node_id: nodes[1].node_id,
        name: "Payments".into(),
        ..Default::default()
    };
    let err = client.call(&add).await.unwrap_err();
    assert_eq!(err.code(), Some("InternalError"));
    assert_eq!(
        emulator.department_id("Production/Payments"),
        None,
        "a faulted call is not applied"
    );
    let added = client.call(&add).await.unwrap();
    assert_eq!(emulator.department_id("Production/Payments"), Some(added.node_id));
    let err = client.call(&add).await.unwrap_err();
    assert_eq!(err.code(), Some("FailedOperation.OrganizationNodeNameUsed"));
    assert_eq!(
        emulator
            .stats()
            .errors("AddOrganizationNode", "FailedOperation.OrganizationNodeNameUsed"),
        1
    );

    let wrong_key = self::client(addr, "not-the-key");
    let move_members = MoveOrganizationNodeMembers {
        node_id: added.node_id,
        member_uin: vec![DEFAULT_MEMBER_UINS[0]],
    };
    let err = wrong_key.call(&move_members).await.unwrap_err();
    assert_eq!(err.code(), Some("AuthFailure.SignatureFailure"));
    client.call(&move_members).await.unwrap();
    shutdown.cancel();

    let (emulator, addr, shutdown) = spawn(2).await;
    let client = self::client(addr, KEY);
    let describe = DescribeOrganizationNodes {
        limit: 50,
        ..Default::default()
    };
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(
            client
                .call(&describe)
                .await
                .err()
                .and_then(|e| e.code().map(str::to_owned)),
        );
    }
    assert_eq!(codes, [None, None, Some("RequestLimitExceeded".to_owned())]);
    assert_eq!(emulator.stats().throttled("DescribeOrganizationNodes"), 1);
    shutdown.cancel();
}
