//! Emulator of the Tencent Cloud Identity Center API, for development, CI and `serve --dev`.
//!
//! It speaks the wire protocol of the real service (reference section 0): `POST /` with TC3
//! signatures checked against configured credentials, HTTP 200 with the `Response` envelope for
//! every outcome, per-(SecretId, action) throttling, asynchronous tasks, and optional faults.
//! State lives in memory. [`Emulator`] is also a handle tests use to look inside.

mod http;
pub mod state;
mod throttle;
#[cfg(test)]
mod wire_tests;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::tencent::client::{
    DEFAULT_RATE_LIMIT, ENV_SECRET_ID, ENV_SECRET_KEY, ENV_SESSION_TOKEN, TASK_STATUS_RATE_LIMIT,
};
use crate::tencent::clock::{SharedClock, system_clock};

pub use state::{ACTIONS, Settings, Snapshot, TaskRecord};

/// UIN of the organization's admin account (`TargetType: ManagerUin`).
pub const DEFAULT_MANAGER_UIN: u64 = 100_000_000_000;
/// Member accounts when none are given.
pub const DEFAULT_MEMBER_UINS: [u64; 2] = [100_000_000_001, 100_000_000_002];
/// Departments the organization may hold when no setting says otherwise (the root not counted).
/// Tencent publishes no such limit.
pub const DEFAULT_DEPARTMENT_LIMIT: u64 = 1000;
/// Role configurations present from the start, so a bridge configuration can name a known id.
pub const SEED_ROLE_CONFIGURATIONS: [(&str, &str); 2] = [
    ("rc-devadmin0001", "DevAdministrator"),
    ("rc-devreadonly1", "DevReadOnly"),
];

/// `cic-bridge emulator` flags. Credentials come from `TENCENTCLOUD_SECRET_ID` /
/// `TENCENTCLOUD_SECRET_KEY` (and `TENCENTCLOUD_SESSION_TOKEN`), as for the bridge itself.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9400")]
    pub listen: SocketAddr,
    /// Zone id (`z-` + 12 of [a-z0-9]); generated when absent.
    #[arg(long, value_name = "Z")]
    pub zone_id: Option<String>,
    /// A member account UIN of the organization (repeatable). Default: 100000000001 and
    /// 100000000002. The admin account is 100000000000.
    #[arg(long = "member-uin", value_name = "N")]
    pub member_uin: Vec<u64>,
    /// A department of the organization and the member accounts in it (repeatable):
    /// `Production/Payments=100000000002,100000000003` creates each missing level below the root.
    /// Accounts not placed are in the root department.
    #[arg(long = "department", value_name = "PATH[=UIN,...]", value_parser = parse_department)]
    pub department: Vec<(String, Vec<u64>)>,
    /// A tag on a member account (repeatable): `100000000002:env=prod`.
    #[arg(long = "member-tag", value_name = "UIN:KEY=VALUE", value_parser = parse_member_tag)]
    pub member_tag: Vec<(u64, String, String)>,
    /// Requests per second per (SecretId, action); GetTaskStatus and GetProvisioningTaskStatus
    /// keep their own 220/s. 0 disables throttling.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RATE_LIMIT)]
    pub rate_limit: u32,
    /// How long asynchronous tasks stay InProgress.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub task_delay_ms: u64,
    /// Up to this many extra milliseconds, drawn at random per task, on top of
    /// --task-delay-ms: slow asynchronous tasks that settle out of order.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub task_delay_jitter_ms: u64,
    /// User quota of the zone (FailedOperation.UserOverUpperLimit beyond it).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub user_limit: u64,
    /// Group quota of the zone (FailedOperation.GroupOverUpperLimit beyond it).
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub group_limit: u64,
    /// Share of requests (0.0-1.0) that meet a fault: InternalError, HTTP 503, a dropped
    /// connection, a slow answer, or RequestLimitExceeded.
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub fault_rate: f64,
    /// How late a slow answer (one of the --fault-rate faults) comes, in milliseconds. Longer
    /// than the client's request timeout, it is a timeout after the action was applied.
    #[arg(long, value_name = "N", default_value_t = 3000)]
    pub slow_answer_ms: u64,
    /// Accept any printable group name instead of the documented letters, digits and '-'.
    #[arg(long)]
    pub lenient_group_names: bool,
}

/// One API key the emulator accepts.
#[derive(Debug, Clone)]
pub struct EmulatorCredential {
    pub secret_id: String,
    pub secret_key: SecretString,
    /// When set, requests must carry it as `X-TC-Token` (temporary credentials).
    pub session_token: Option<SecretString>,
}

impl EmulatorCredential {
    pub fn new(secret_id: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
            secret_key: SecretString::from(secret_key.into()),
            session_token: None,
        }
    }
}

/// A fault the emulator can inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `Response.Error.Code = InternalError`; the action is not applied.
    InternalError,
    /// HTTP 503 with a non-envelope body, as a load balancer would answer; not applied.
    ServiceUnavailable,
    /// The action IS applied, then the connection is cut before the answer is complete: the
    /// client cannot know whether its create happened.
    DropConnection,
    /// The answer comes after this delay (the action is applied normally).
    Slow(Duration),
    /// `RequestLimitExceeded` although the caller stayed within its rate; not applied. The real
    /// service throttles on its own load too, so a client must back off on it at any rate.
    RequestLimitExceeded,
}

impl Fault {
    /// The name `/_emulator/stats` counts it under.
    pub fn name(&self) -> &'static str {
        match self {
            Self::InternalError => "InternalError",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::DropConnection => "DropConnection",
            Self::Slow(_) => "Slow",
            Self::RequestLimitExceeded => "RequestLimitExceeded",
        }
    }
}

#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub credentials: Vec<EmulatorCredential>,
    pub settings: Settings,
    /// Requests per second per (SecretId, action); 0 disables.
    pub rate_limit: u32,
    /// Same for GetTaskStatus / GetProvisioningTaskStatus.
    pub task_status_rate_limit: u32,
    /// Share of requests that meet a random fault.
    pub fault_rate: f64,
    /// Delay of a [`Fault::Slow`] chosen at random.
    pub slow_answer: Duration,
    /// Allowed distance between `X-TC-Timestamp` and the emulator's clock.
    pub max_skew: Duration,
    pub clock: SharedClock,
}

impl EmulatorConfig {
    /// Defaults of the real service's documented behaviour, a generated zone id, and one key.
    pub fn new(credential: EmulatorCredential) -> Self {
        Self {
            credentials: vec![credential],
            settings: Settings {
                zone_id: generate_zone_id(),
                zone_name: "cic-bridge-emulator".to_owned(),
                manager_uin: DEFAULT_MANAGER_UIN,
                member_uins: DEFAULT_MEMBER_UINS.to_vec(),
                departments: Vec::new(),
                member_tags: Vec::new(),
                department_limit: DEFAULT_DEPARTMENT_LIMIT,
                user_limit: 1000,
                group_limit: 500,
                role_configuration_limit: 1000,
                group_member_limit: 10_000,
                user_group_limit: 500,
                assignment_limit: 100_000,
                task_delay: Duration::from_millis(1000),
                task_delay_jitter: Duration::ZERO,
                strict_group_names: true,
                scim_sync_enabled: false,
                manual_lock: false,
                seed_role_configurations: SEED_ROLE_CONFIGURATIONS
                    .iter()
                    .map(|(id, name)| ((*id).to_owned(), (*name).to_owned()))
                    .collect(),
                rng_seed: None,
            },
            rate_limit: DEFAULT_RATE_LIMIT,
            task_status_rate_limit: TASK_STATUS_RATE_LIMIT,
            fault_rate: 0.0,
            slow_answer: Duration::from_secs(3),
            max_skew: Duration::from_secs(300),
            clock: system_clock(),
        }
    }

    /// The configuration `cic-bridge emulator` runs with.
    pub fn from_args(args: &EmulatorArgs, credential: EmulatorCredential) -> anyhow::Result<Self> {
        let mut config = Self::new(credential);
        if let Some(zone) = &args.zone_id {
            anyhow::ensure!(
                is_id(zone, "z-"),
                "--zone-id must be z- followed by 12 characters of [a-z0-9]"
            );
            config.settings.zone_id = zone.clone();
        }
        if !args.member_uin.is_empty() {
            config.settings.member_uins = args.member_uin.clone();
        }
        config.settings.departments = args.department.clone();
        config.settings.member_tags = args.member_tag.clone();
        let problems = state::organization_problems(&config.settings);
        anyhow::ensure!(
            problems.is_empty(),
            "the organization's flags do not fit together: {}",
            problems.join("; ")
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&args.fault_rate),
            "--fault-rate must be between 0 and 1, got {}",
            args.fault_rate
        );
        config.rate_limit = args.rate_limit;
        if args.rate_limit == 0 {
            config.task_status_rate_limit = 0;
        }
        config.settings.task_delay = Duration::from_millis(args.task_delay_ms);
        config.settings.task_delay_jitter = Duration::from_millis(args.task_delay_jitter_ms);
        config.slow_answer = Duration::from_millis(args.slow_answer_ms);
        config.settings.user_limit = args.user_limit;
        config.settings.group_limit = args.group_limit;
        config.settings.strict_group_names = !args.lenient_group_names;
        config.fault_rate = args.fault_rate;
        Ok(config)
    }
}

/// `--department PATH[=UIN,...]`: a path of department names below the root and the member
/// accounts placed there (none: an empty department).
pub(crate) fn parse_department(value: &str) -> Result<(String, Vec<u64>), String> {
    let (path, uins) = value.split_once('=').unwrap_or((value, ""));
    let path = path.trim();
    if path.split('/').all(str::is_empty) {
        return Err(format!("expected PATH[=UIN,...], got {value:?}"));
    }
    let uins = uins
        .split(',')
        .map(str::trim)
        .filter(|uin| !uin.is_empty())
        .map(|uin| uin.parse().map_err(|_| format!("{uin:?} is not an account UIN")))
        .collect::<Result<_, _>>()?;
    Ok((path.to_owned(), uins))
}

/// `--member-tag UIN:KEY=VALUE` (the value may be empty, the key may not).
pub(crate) fn parse_member_tag(value: &str) -> Result<(u64, String, String), String> {
    let bad = || format!("expected UIN:KEY=VALUE, got {value:?}");
    let (uin, tag) = value.split_once(':').ok_or_else(bad)?;
    let (key, tag_value) = tag.split_once('=').ok_or_else(bad)?;
    let uin = uin.trim().parse().map_err(|_| bad())?;
    if key.is_empty() {
        return Err(bad());
    }
    Ok((uin, key.to_owned(), tag_value.to_owned()))
}

fn is_id(value: &str, prefix: &str) -> bool {
    value
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 12 && rest.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
}

/// `z-` + 12 of [a-z0-9].
pub fn generate_zone_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..12)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("z-{suffix}")
}

/// Request counters, for tests, the dev status output and `GET /_emulator/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stats {
    /// Authenticated requests per action (including those then throttled or faulted).
    pub calls: HashMap<String, u64>,
    /// Requests answered `RequestLimitExceeded`, per action.
    pub throttled: HashMap<String, u64>,
    /// Requests rejected with an `AuthFailure.*` code.
    pub auth_failures: u64,
    /// Faults injected.
    pub faults: u64,
    /// Faults injected, per kind ([`Fault::name`]).
    pub faults_by_kind: HashMap<String, u64>,
    /// Error answers per `Action:Code` (throttling and faults included): how often a client
    /// met a conflict or a not-found, e.g. when it repeated a call whose answer it lost.
    pub errors: HashMap<String, u64>,
}

impl Stats {
    pub fn calls(&self, action: &str) -> u64 {
        self.calls.get(action).copied().unwrap_or(0)
    }
    pub fn throttled(&self, action: &str) -> u64 {
        self.throttled.get(action).copied().unwrap_or(0)
    }
    pub fn total_throttled(&self) -> u64 {
        self.throttled.values().sum()
    }
    pub fn faults_of(&self, kind: &str) -> u64 {
        self.faults_by_kind.get(kind).copied().unwrap_or(0)
    }
    pub fn errors(&self, action: &str, code: &str) -> u64 {
        self.errors.get(&format!("{action}:{code}")).copied().unwrap_or(0)
    }
}

#[derive(Debug)]
struct Inner {
    credentials: Vec<EmulatorCredential>,
    zone_id: String,
    rate_limit: u32,
    task_status_rate_limit: u32,
    fault_rate: f64,
    slow_answer: Duration,
    max_skew: Duration,
    clock: SharedClock,
    state: Mutex<state::State>,
    throttle: Mutex<throttle::Buckets>,
    stats: Mutex<Stats>,
    scripted_faults: Mutex<VecDeque<Fault>>,
    /// Faults for the next calls of one action, before the scripted and random ones.
    action_faults: Mutex<Vec<(String, Fault)>>,
    fault_rng: Mutex<StdRng>,
}

/// Lock a mutex, recovering from poisoning: every critical section leaves the data consistent
/// before anything that could panic, and an emulator that stops answering helps nobody.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The emulator: shared state plus configuration. Clone freely.
#[derive(Debug, Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

impl Emulator {
    pub fn new(config: EmulatorConfig) -> Self {
        let now = config.clock.now();
        let fault_rng = match config.settings.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed.wrapping_add(1)),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        Self {
            inner: Arc::new(Inner {
                zone_id: config.settings.zone_id.clone(),
                credentials: config.credentials,
                rate_limit: config.rate_limit,
                task_status_rate_limit: config.task_status_rate_limit,
                fault_rate: config.fault_rate,
                slow_answer: config.slow_answer,
                max_skew: config.max_skew,
                state: Mutex::new(state::State::new(config.settings, now)),
                clock: config.clock,
                throttle: Mutex::new(throttle::Buckets::default()),
                stats: Mutex::new(Stats::default()),
                scripted_faults: Mutex::new(VecDeque::new()),
                action_faults: Mutex::new(Vec::new()),
                fault_rng: Mutex::new(fault_rng),
            }),
        }
    }

    pub fn zone_id(&self) -> &str {
        &self.inner.zone_id
    }

    /// The zone as it is now (due tasks settled first).
    pub fn snapshot(&self) -> Snapshot {
        let mut state = lock(&self.inner.state);
        state.settle(self.inner.clock.now());
        state.snapshot()
    }

    pub fn stats(&self) -> Stats {
        lock(&self.inner.stats).clone()
    }

    /// Every task so far, oldest first (due tasks settled first), with the request fault that
    /// hid its start from the caller and whether its failure was scripted.
    pub fn tasks(&self) -> Vec<state::TaskRecord> {
        let mut state = lock(&self.inner.state);
        state.settle(self.inner.clock.now());
        state.task_records()
    }

    /// The next requests (after authentication and throttling) meet these faults, in order,
    /// before any random fault.
    pub fn inject_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.inner.scripted_faults).extend(faults);
    }

    /// Scripts a fault for the next call of `action` only (other actions pass untouched).
    pub fn inject_fault_on(&self, action: &str, fault: Fault) {
        lock(&self.inner.action_faults).push((action.to_owned(), fault));
    }

    /// Tasks started from now on against account `uin` end Failed with `reason` (`None`: the
    /// empty FailureReason seen right after an account joins the organization).
    pub fn fail_tasks_on_account(&self, uin: u64, reason: Option<String>) {
        lock(&self.inner.state).fail_tasks_on_account(uin, reason);
    }

    pub fn stop_failing_tasks_on_account(&self, uin: u64) {
        lock(&self.inner.state).stop_failing_tasks_on_account(uin);
    }

    /// Tasks started from now on against account `uin` take `extra` longer than others
    /// (`Duration::ZERO` ends it): tasks of one request then end at different times.
    pub fn slow_tasks_on_account(&self, uin: u64, extra: Duration) {
        lock(&self.inner.state).slow_tasks_on_account(uin, extra);
    }

    /// A new account joins the organization (on Tencent Cloud through an invitation or the
    /// console), in the department at `department_path` (names below the root such as
    /// `Production/Payments`, each missing level created; `None`: the root). From now on it is a
    /// valid `MemberUin` target.
    pub fn add_member_account(&self, uin: u64, department_path: Option<&str>) -> anyhow::Result<()> {
        let now = self.inner.clock.now();
        lock(&self.inner.state)
            .add_member_account(uin, department_path, now)
            .map_err(anyhow::Error::msg)
    }

    /// The account leaves the organization: CreateRoleAssignment, ProvisionRoleConfiguration
    /// and DismantleRoleConfiguration on it get `FailedOperation.OrganizationMemberNotExist`.
    pub fn remove_member_account(&self, uin: u64) -> anyhow::Result<()> {
        lock(&self.inner.state)
            .remove_member_account(uin)
            .map_err(anyhow::Error::msg)
    }

    /// Replaces a member account's tags with `(TagKey, TagValue)` pairs.
    pub fn set_member_tags(&self, uin: u64, tags: &[(&str, &str)]) -> anyhow::Result<()> {
        let now = self.inner.clock.now();
        lock(&self.inner.state)
            .set_member_tags(uin, tags, now)
            .map_err(anyhow::Error::msg)
    }

    /// Moves a member account to the department at `department_path` (each missing level
    /// created; empty: the root), as the console would.
    pub fn move_member_account(&self, uin: u64, department_path: &str) -> anyhow::Result<()> {
        let now = self.inner.clock.now();
        lock(&self.inner.state)
            .move_member_account(uin, department_path, now)
            .map_err(anyhow::Error::msg)
    }

    /// The NodeId of the department at `path` (names below the root, `/`-separated, compared
    /// case-insensitively; empty: the root), if it exists.
    pub fn department_id(&self, path: &str) -> Option<i64> {
        lock(&self.inner.state).department_id(path)
    }

    /// Turns the zone's SCIM synchronization switch on or off.
    pub fn set_scim_sync(&self, enabled: bool) {
        lock(&self.inner.state).set_scim_sync(enabled);
    }

    /// Runs the emulator on `listener` until `shutdown` is cancelled.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
        axum::serve(listener, router(self))
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }

    fn next_fault(&self, action: &str) -> Option<Fault> {
        {
            let mut targeted = lock(&self.inner.action_faults);
            if let Some(i) = targeted.iter().position(|(a, _)| a == action) {
                return Some(targeted.remove(i).1);
            }
        }
        if let Some(fault) = lock(&self.inner.scripted_faults).pop_front() {
            return Some(fault);
        }
        if self.inner.fault_rate <= 0.0 {
            return None;
        }
        let mut rng = lock(&self.inner.fault_rng);
        if !rng.random_bool(self.inner.fault_rate.min(1.0)) {
            return None;
        }
        Some(match rng.random_range(0..5) {
            0 => Fault::InternalError,
            1 => Fault::ServiceUnavailable,
            2 => Fault::DropConnection,
            3 => Fault::RequestLimitExceeded,
            _ => Fault::Slow(self.inner.slow_answer),
        })
    }
}

/// The emulator's axum router.
pub fn router(emulator: Emulator) -> axum::Router {
    http::router(emulator)
}

/// Starts an emulator with `config` on `listener`; returns when `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, config: EmulatorConfig, shutdown: CancellationToken) -> std::io::Result<()> {
    Emulator::new(config).serve(listener, shutdown).await
}

/// `cic-bridge emulator`.
pub async fn run(args: EmulatorArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let secret_id = env(ENV_SECRET_ID).with_context(|| format!("{ENV_SECRET_ID} must be set"))?;
    let secret_key = env(ENV_SECRET_KEY).with_context(|| format!("{ENV_SECRET_KEY} must be set"))?;
    let mut credential = EmulatorCredential::new(secret_id.trim(), secret_key.trim());
    credential.session_token = env(ENV_SESSION_TOKEN).map(|t| SecretString::from(t.trim().to_owned()));
    let config = EmulatorConfig::from_args(&args, credential)?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        zone_id = %config.settings.zone_id,
        member_uins = ?config.settings.member_uins,
        "Identity Center emulator listening"
    );
    println!(
        "cic-bridge emulator listening on http://{addr} zone {}",
        config.settings.zone_id
    );
    serve(listener, config, shutdown)
        .await
        .context("emulator server failed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: EmulatorArgs,
    }

    fn config(argv: &[&str]) -> anyhow::Result<EmulatorConfig> {
        let cli = Cli::try_parse_from(std::iter::once("emulator").chain(argv.iter().copied()))?;
        EmulatorConfig::from_args(&cli.args, EmulatorCredential::new("id", "key"))
    }

    #[test]
    fn flags_map_onto_the_config() {
        let c = config(&[
            "--zone-id",
            "z-abcdefgh1234",
            "--member-uin",
            "7",
            "--member-uin",
            "8",
            "--rate-limit",
            "5",
            "--task-delay-ms",
            "20",
            "--user-limit",
            "3",
            "--group-limit",
            "4",
            "--fault-rate",
            "0.25",
            "--task-delay-jitter-ms",
            "300",
            "--slow-answer-ms",
            "2500",
            "--lenient-group-names",
        ])
        .unwrap();
        assert_eq!(c.settings.zone_id, "z-abcdefgh1234");
        assert_eq!(c.settings.member_uins, vec![7, 8]);
        assert_eq!((c.rate_limit, c.task_status_rate_limit), (5, TASK_STATUS_RATE_LIMIT));
        assert_eq!(c.settings.task_delay, Duration::from_millis(20));
        assert_eq!(c.settings.task_delay_jitter, Duration::from_millis(300));
        assert_eq!(c.slow_answer, Duration::from_millis(2500));
        assert_eq!((c.settings.user_limit, c.settings.group_limit), (3, 4));
        assert!(!c.settings.strict_group_names);
        assert!((c.fault_rate - 0.25).abs() < f64::EPSILON);
    }

    #[test]
    fn defaults_and_rejections() {
        let c = config(&[]).unwrap();
        assert!(
            is_id(&c.settings.zone_id, "z-"),
            "generated zone id {}",
            c.settings.zone_id
        );
        assert_eq!(c.settings.member_uins, DEFAULT_MEMBER_UINS.to_vec());
        assert_eq!(c.settings.task_delay_jitter, Duration::ZERO);
        assert_eq!(c.slow_answer, Duration::from_secs(3));
        assert_eq!(c.settings.seed_role_configurations.len(), 2);
        assert!(
            c.settings
                .seed_role_configurations
                .iter()
                .all(|(id, _)| is_id(id, "rc-"))
        );
        assert_eq!(config(&["--rate-limit", "0"]).unwrap().task_status_rate_limit, 0);
        assert!(config(&["--zone-id", "zone-1"]).is_err());
        assert!(config(&["--zone-id", "z-ABCDEFGH1234"]).is_err());
        assert!(config(&["--fault-rate", "1.5"]).is_err());
        assert!(config(&["--member-uin", "abc"]).is_err());
    }

    #[test]
    fn organization_flags_build_the_starting_tree() {
        let c = config(&[
            "--member-uin",
            "7",
            "--member-uin",
            "8",
            "--department",
            "Production/Payments=7, 8",
            "--department",
            "Sandbox",
            "--member-tag",
            "7:env=prod",
            "--member-tag",
            "8:team=",
        ])
        .unwrap();
        assert_eq!(
            c.settings.departments,
            vec![
                ("Production/Payments".to_owned(), vec![7, 8]),
                ("Sandbox".to_owned(), vec![])
            ]
        );
        assert_eq!(
            c.settings.member_tags,
            vec![
                (7, "env".to_owned(), "prod".to_owned()),
                (8, "team".to_owned(), String::new())
            ]
        );
        let emulator = Emulator::new(c);
        let payments = emulator.department_id("Production/Payments").unwrap();
        let members = emulator.snapshot().members;
        assert_eq!((members[0].node_id, members[1].node_id), (payments, payments));
        assert_eq!(members[0].tags[0].tag_value, "prod");

        assert_eq!(config(&[]).unwrap().settings.department_limit, DEFAULT_DEPARTMENT_LIMIT);
        for bad in [
            &["--department", "Production=100000000009"][..],
            &["--department", "=100000000001"],
            &["--department", "/"],
            &["--department", "Production=abc"],
            &["--department", "Two words=100000000001"],
            &["--department", "A=100000000001", "--department", "B=100000000001"],
            &["--member-tag", "100000000001env=prod"],
            &["--member-tag", "100000000001:env"],
            &["--member-tag", "100000000001:=prod"],
            &["--member-tag", "100000000009:env=prod"],
            &["--member-uin", "100000000000"],
        ] {
            assert!(config(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn member_accounts_change_through_the_handle() {
        let emulator = Emulator::new(EmulatorConfig::new(EmulatorCredential::new("id", "key")));
        emulator
            .add_member_account(100_000_000_003, Some("Production"))
            .unwrap();
        emulator
            .move_member_account(100_000_000_001, "Production/Payments")
            .unwrap();
        emulator.set_member_tags(100_000_000_001, &[("env", "prod")]).unwrap();
        emulator.remove_member_account(100_000_000_002).unwrap();
        let production = emulator.department_id("Production").unwrap();
        let payments = emulator.department_id("Production/Payments").unwrap();
        let members: Vec<(u64, i64, usize)> = emulator
            .snapshot()
            .members
            .iter()
            .map(|m| (m.member_uin, m.node_id, m.tags.len()))
            .collect();
        assert_eq!(
            members,
            vec![(100_000_000_001, payments, 1), (100_000_000_003, production, 0)]
        );
        assert!(emulator.remove_member_account(100_000_000_002).is_err());
        assert!(emulator.add_member_account(100_000_000_004, Some("Bad name")).is_err());
    }
}
