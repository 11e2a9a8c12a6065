//! An emulator on a loopback port plus clients pointed at it.

use std::net::SocketAddr;
use std::time::Duration;

use cic_bridge::emulator::{Emulator, EmulatorConfig, EmulatorCredential};
use cic_bridge::tencent::client::{ClientConfig, Credentials, RateLimits};
use cic_bridge::tencent::model::*;
use cic_bridge::tencent::{CicClient, CicError, ErrorClass};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub const SECRET_ID: &str = "AKIDemulatortest0001";
pub const SECRET_KEY: &str = "emulator-test-secret-key";
pub const MEMBER_A: u64 = 100_000_000_001;
pub const MEMBER_B: u64 = 100_000_000_002;
pub const MANAGER: u64 = 100_000_000_000;

pub struct TestEmulator {
    pub emulator: Emulator,
    pub addr: SocketAddr,
    pub url: String,
    shutdown: CancellationToken,
}

impl Drop for TestEmulator {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Test defaults: short task delay, no throttling (tests that need it turn it on), no seeded
/// role configurations, deterministic ids.
pub async fn spawn_emulator(tweak: impl FnOnce(&mut EmulatorConfig)) -> TestEmulator {
    let mut config = EmulatorConfig::new(EmulatorCredential::new(SECRET_ID, SECRET_KEY));
    config.settings.task_delay = Duration::from_millis(40);
    config.settings.seed_role_configurations.clear();
    config.settings.rng_seed = Some(42);
    config.rate_limit = 0;
    config.task_status_rate_limit = 0;
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let emulator = Emulator::new(config);
    let shutdown = CancellationToken::new();
    tokio::spawn(emulator.clone().serve(listener, shutdown.clone()));
    TestEmulator {
        emulator,
        addr,
        url: format!("http://{addr}"),
        shutdown,
    }
}

impl TestEmulator {
    pub fn zone(&self) -> String {
        self.emulator.zone_id().to_owned()
    }

    pub fn config(&self) -> ClientConfig {
        ClientConfig {
            endpoint: self.url.clone(),
            region: None,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            rate_limits: RateLimits::unlimited(),
            language: Some("en-US".into()),
        }
    }

    /// A client without its own rate limiter.
    pub fn client(&self) -> CicClient {
        CicClient::new(self.config(), Credentials::new(SECRET_ID, SECRET_KEY)).unwrap()
    }

    pub fn client_with(&self, credentials: Credentials, tweak: impl FnOnce(&mut ClientConfig)) -> CicClient {
        let mut config = self.config();
        tweak(&mut config);
        CicClient::new(config, credentials).unwrap()
    }
}

/// The code of an API error, failing the test on anything else.
pub fn api_code(err: &CicError) -> &str {
    err.code()
        .unwrap_or_else(|| panic!("expected an API error, got {err:?}"))
}

pub fn assert_api_error(result: Result<impl std::fmt::Debug, CicError>, code: &str, class: ErrorClass) {
    let err = result.expect_err(&format!("expected {code}"));
    assert_eq!(api_code(&err), code, "{err}");
    assert_eq!(err.class(), class, "class of {code}");
    assert!(
        !err.request_id().unwrap_or_default().is_empty(),
        "error keeps the RequestId"
    );
}

pub async fn create_user(client: &CicClient, zone: &str, name: &str) -> UserInfo {
    client
        .call(&CreateUser {
            zone_id: zone.into(),
            user_name: name.into(),
            email: Some(format!("{name}@example.com")),
            ..Default::default()
        })
        .await
        .unwrap()
        .user_info
}

pub async fn create_group(client: &CicClient, zone: &str, name: &str) -> GroupInfo {
    client
        .call(&CreateGroup {
            zone_id: zone.into(),
            group_name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .group_info
        .unwrap()
}

pub async fn create_role_configuration(client: &CicClient, zone: &str, name: &str) -> RoleConfiguration {
    client
        .call(&CreateRoleConfiguration {
            zone_id: zone.into(),
            role_configuration_name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .role_configuration_info
}

/// Polls GetTaskStatus until the task is terminal (bounded).
pub async fn wait_task(client: &CicClient, zone: &str, task_id: &str) -> TaskStatus {
    for _ in 0..200 {
        let status = client
            .call(&GetTaskStatus {
                zone_id: zone.into(),
                task_id: task_id.into(),
            })
            .await
            .unwrap()
            .task_status;
        if status.status.is_terminal() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("task {task_id} did not finish");
}
