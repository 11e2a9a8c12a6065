//! Configuration: one typed struct. Documented defaults are embedded here, the TOML file
//! overrides them, and `CIC_BRIDGE_<SECTION>__<KEY>` environment variables override the file.
//! Unknown keys are errors. Secrets never come from the file: a tenant names the environment
//! variable that holds its token (`token_env`), and the Tencent keys are read from
//! `TENCENTCLOUD_SECRET_ID` / `TENCENTCLOUD_SECRET_KEY`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub scim: ScimConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub cic: CicConfig,
    #[serde(default)]
    pub engine: EngineConfig,
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    #[serde(default)]
    pub assignments: Vec<AssignmentConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP server binds (SCIM, admin, health).
    pub listen: SocketAddr,
    /// Public base URL of this server (e.g. `https://scim.example.com`), used for
    /// `meta.location` and `Location`. When unset, it is derived from each request's Host header.
    pub public_url: Option<String>,
    /// Largest accepted request body in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Requests taking longer than this are answered 503. Okta and Entra give up after 60 s.
    pub request_timeout_secs: u64,
    /// On SIGTERM/SIGINT, in-flight requests get this long to finish.
    pub shutdown_timeout_secs: u64,
    /// When set, the admin API, the status page and `/metrics` are served only on this
    /// address (e.g. `127.0.0.1:9090`, or an internal interface) and not on `listen`.
    /// `/healthz` and `/readyz` answer on both.
    pub admin_listen: Option<SocketAddr>,
    /// How often the queue depth is sampled for the status page's one-hour chart.
    pub status_sample_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            max_body_bytes: 4 * 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_timeout_secs: 20,
            admin_listen: None,
            status_sample_secs: 15,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://…`.
    pub url: String,
    /// Connections for reads (SQLite: writes always use one dedicated connection).
    pub max_connections: u32,
    /// SQLite `synchronous` pragma: `full` (default; a committed write survives power loss) or
    /// `normal` (faster; a crash of the machine may lose the last transactions, a crash of the
    /// process loses nothing).
    pub sqlite_synchronous: SqliteSync,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://cic-bridge.db".to_string(),
            max_connections: 8,
            sqlite_synchronous: SqliteSync::Full,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    Full,
    Normal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScimConfig {
    /// Largest page a list request returns (advertised as `filter.maxResults`).
    pub max_page_size: u32,
    /// Page size when the client sends no `count`.
    pub default_page_size: u32,
}

impl Default for ScimConfig {
    fn default() -> Self {
        ScimConfig {
            max_page_size: 1000,
            default_page_size: 100,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `cic_bridge=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CicConfig {
    /// `china` (organization.tencentcloudapi.com), `international`
    /// (organization.intl.tencentcloudapi.com), or a URL (the emulator).
    pub endpoint: String,
    /// Sent as X-TC-Region when set; Identity Center does not require it.
    pub region: Option<String>,
    /// Requests per second per action that cic-bridge allows itself (Tencent documents 20/s).
    pub rate_limit_per_action: u32,
    /// Per-action overrides of `rate_limit_per_action`, e.g. `{ GetTaskStatus = 220 }` (the
    /// documented limit of the task-status actions, and the default for them).
    pub action_rate_limits: std::collections::BTreeMap<String, u32>,
    pub connect_timeout_secs: u64,
    /// Longest wait for one API answer.
    pub request_timeout_secs: u64,
    /// The organization's admin account: deployments and assignments there use
    /// `TargetType = ManagerUin`; every other UIN is a member account.
    pub manager_uin: Option<u64>,
}

impl Default for CicConfig {
    fn default() -> Self {
        CicConfig {
            endpoint: "china".to_string(),
            region: None,
            rate_limit_per_action: 20,
            action_rate_limits: Default::default(),
            connect_timeout_secs: 5,
            request_timeout_secs: 30,
            manager_uin: None,
        }
    }
}

impl CicConfig {
    /// The endpoint as a URL.
    pub fn endpoint_url(&self) -> &str {
        match self.endpoint.as_str() {
            "china" => crate::tencent::client::CHINA_ENDPOINT,
            "international" => crate::tencent::client::INTERNATIONAL_ENDPOINT,
            url => url,
        }
    }

    pub fn client_config(&self) -> crate::tencent::ClientConfig {
        let mut limits = crate::tencent::RateLimits {
            default_per_second: self.rate_limit_per_action,
            ..Default::default()
        };
        for (action, n) in &self.action_rate_limits {
            limits.per_action.insert(action.clone(), *n);
        }
        crate::tencent::ClientConfig {
            endpoint: self.endpoint_url().to_string(),
            region: self.region.clone(),
            connect_timeout: std::time::Duration::from_secs(self.connect_timeout_secs),
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs),
            rate_limits: limits,
            ..Default::default()
        }
    }
}

/// The provisioning engine: workers, retries, waiting creates, the destructive-change fuse.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Operations run concurrently (each still waits for the per-action rate limiter).
    pub workers: u32,
    /// How long a claimed operation stays with its worker without renewal; a crashed worker's
    /// operations run again after this.
    pub lease_secs: u64,
    /// First retry delay; each further attempt doubles it (with full jitter) up to the cap.
    pub retry_base_ms: u64,
    pub retry_cap_secs: u64,
    /// After this many attempts an operation ends `failed` with its last error.
    pub max_attempts: u32,
    /// An operation still failing this long after it was recorded ends `failed`.
    pub max_age_secs: u64,
    /// How long a SCIM create waits for its Identity Center outcome before answering.
    pub create_wait_ms: u64,
    /// Parked operations (full quota) are tried again this often.
    pub park_recheck_secs: u64,
    /// The fuse trips when deletions and deactivations within `fuse_window_secs` exceed this
    /// share of a tenant's users (0 disables it)…
    pub fuse_share: f64,
    pub fuse_window_secs: u64,
    /// …and at least this many (small tenants do not trip it on a handful of changes).
    pub fuse_min: u32,
    /// Finished operations are kept this long for inspection.
    pub keep_done_secs: u64,
    /// How often ListRoleConfigurationProvisionings is checked for deployments that are
    /// `DeployedRequired` (0 disables the check).
    pub deployment_check_secs: u64,
    /// DeleteRoleAssignment's DeprovisionStrategy: `last-on-account` also removes the role
    /// configuration's deployment when no assignment of it remains on the account; `none`
    /// leaves it deployed.
    pub deprovision: Deprovision,
    /// How often to compare the store with Identity Center and keep the drift for
    /// `/admin/status` (0: off). It only reports; `reconcile --apply` repairs.
    pub reconcile_interval_secs: u64,
    /// How often the organization's departments and member accounts are read again; when
    /// they changed, department, tag and all-accounts rules are resolved again (0: only at
    /// start-up and on `POST /admin/organization/refresh`).
    pub organization_refresh_secs: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Deprovision {
    #[default]
    LastOnAccount,
    None,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 16,
            lease_secs: 60,
            retry_base_ms: 1000,
            retry_cap_secs: 300,
            max_attempts: 12,
            max_age_secs: 24 * 3600,
            create_wait_ms: 5000,
            park_recheck_secs: 600,
            fuse_share: 0.2,
            fuse_window_secs: 600,
            fuse_min: 25,
            keep_done_secs: 24 * 3600,
            deployment_check_secs: 300,
            deprovision: Deprovision::LastOnAccount,
            reconcile_interval_secs: 0,
            organization_refresh_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Stable name of the tenant; it keys the tenant's data, so do not rename it.
    pub name: String,
    /// The Identity Center zone (`z-` + 12 characters) this tenant provisions into.
    pub zone_id: String,
    /// Environment variable holding this tenant's static SCIM bearer token. May be left out
    /// when the tenant authenticates with JWTs only (`[tenants.jwt]`).
    #[serde(default)]
    pub token_env: String,
    /// What to do when Identity Center already has a user or group of that name.
    #[serde(default)]
    pub on_conflict: OnConflict,
    /// What to do when the IdP renames a user (Identity Center user names are immutable).
    #[serde(default)]
    pub on_username_change: OnUsernameChange,
    /// `live` sends operations to Identity Center; `shadow` records them without sending.
    #[serde(default)]
    pub mode: TenantMode,
    /// JWT bearer tokens (Entra ID's OAuth mode) accepted for this tenant, besides or instead
    /// of the static token.
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
}

/// JWTs a tenant accepts: issuer, audience and signature are checked, and the expiry (with
/// `leeway_secs`). The tenant of a JWT is the one whose issuer (and audience) it carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// `iss` the token must carry exactly, e.g. `https://sts.windows.net/<tenant-id>/`.
    pub issuer: String,
    /// `aud` the token must contain; Entra uses `8adf8e6e-67b2-4cf2-a259-e3dc5476c621` for
    /// every non-gallery application.
    pub audience: String,
    /// Where the issuer publishes its signing keys (JWKS), e.g.
    /// `https://login.microsoftonline.com/<tenant-id>/discovery/v2.0/keys`…
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// …or one public key: a PEM (`-----BEGIN PUBLIC KEY-----…`) or the path of a PEM file.
    /// It is public, so it may be in the file.
    #[serde(default)]
    pub key: Option<String>,
    /// Accepted signature algorithms (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384,
    /// EdDSA). HMAC algorithms are refused: a verifier holding a public key must never treat
    /// it as a shared secret.
    #[serde(default = "default_jwt_algorithms")]
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_jwt_leeway")]
    pub leeway_secs: u64,
    /// An unknown `kid` refetches the JWKS at most this often, so a flood of tokens with
    /// made-up key ids cannot hammer the issuer.
    #[serde(default = "default_jwks_min_refresh")]
    pub jwks_min_refresh_secs: u64,
}

fn default_jwt_algorithms() -> Vec<String> {
    vec!["RS256".to_string()]
}

fn default_jwt_leeway() -> u64 {
    60
}

fn default_jwks_min_refresh() -> u64 {
    30
}

/// Asymmetric algorithms a JWT may use (jsonwebtoken's names).
pub const JWT_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnUsernameChange {
    /// Keep the Identity Center user name and update everything else.
    #[default]
    Keep,
    /// Delete the Identity Center user and create it again under the new name, with its
    /// memberships.
    Recreate,
    /// Refuse the SCIM change with 400 `mutability`.
    Reject,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TenantMode {
    #[default]
    Live,
    /// Serve SCIM and record every operation, send nothing to Identity Center.
    Shadow,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Answer the SCIM create with 409 `uniqueness`.
    #[default]
    Reject,
    /// Link the existing Identity Center object and update it.
    Adopt,
}

/// A role assignment rule: members of matching groups get a role configuration on accounts.
/// Exactly one of `group`, `group_pattern`, `group_regex` selects the groups.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentConfig {
    /// Tenant the rule applies to; all tenants when unset.
    #[serde(default)]
    pub tenant: Option<String>,
    /// A group displayName (case-insensitive).
    #[serde(default)]
    pub group: Option<String>,
    /// A regular expression the whole displayName must match.
    #[serde(default)]
    pub group_pattern: Option<String>,
    /// Naming convention: a regular expression with the named captures `uin` and `role`
    /// (a role configuration name), e.g. `^CIC_(?P<uin>[0-9]+)_(?P<role>[A-Za-z0-9-]+)$`. Such
    /// a rule takes its account and role configuration from the group name.
    #[serde(default)]
    pub group_regex: Option<String>,
    /// Role configuration by id (`rc-…`)…
    #[serde(default)]
    pub role_configuration_id: Option<String>,
    /// …or by name.
    #[serde(default)]
    pub role_configuration: Option<String>,
    /// Account UINs the role configuration is assigned on…
    #[serde(default)]
    pub target_uins: Vec<u64>,
    /// …or every member account of the organization…
    #[serde(default)]
    pub all_accounts: bool,
    /// …or the member accounts of these departments of the organization: a path of
    /// department names below the root (`"Production/Payments"`) or a `NodeId`.
    #[serde(default)]
    pub departments: Vec<DepartmentRef>,
    /// Whether `departments` includes their sub-departments (default true).
    #[serde(default = "yes")]
    pub include_sub_departments: bool,
    /// Only accounts that carry every one of these tags (with `departments`, `all_accounts`,
    /// or alone: every member account with the tags).
    #[serde(default)]
    pub account_tags: std::collections::BTreeMap<String, String>,
    /// Accounts never targeted by this rule (with `departments`, `all_accounts` or
    /// `account_tags`).
    #[serde(default)]
    pub exclude_uins: Vec<u64>,
}

fn yes() -> bool {
    true
}

impl Default for AssignmentConfig {
    fn default() -> Self {
        AssignmentConfig {
            tenant: None,
            group: None,
            group_pattern: None,
            group_regex: None,
            role_configuration_id: None,
            role_configuration: None,
            target_uins: Vec::new(),
            all_accounts: false,
            departments: Vec::new(),
            include_sub_departments: true,
            account_tags: Default::default(),
            exclude_uins: Vec::new(),
        }
    }
}

/// A department of the organization named in a rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DepartmentRef {
    /// Its `NodeId`.
    Id(i64),
    /// Department names from the root down, separated by `/`.
    Path(String),
}

impl std::fmt::Display for DepartmentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DepartmentRef::Id(id) => write!(f, "{id}"),
            DepartmentRef::Path(p) => f.write_str(p),
        }
    }
}

/// A configuration problem: the key and the reason, printed before start-up stops.
#[derive(Debug, thiserror::Error)]
#[error("configuration error at `{key}`: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl Config {
    /// Loads defaults, then `path`, then `CIC_BRIDGE_<SECTION>__<KEY>` variables.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if !path.exists() {
            return Err(ConfigError::new(
                "--config",
                format!("file {} does not exist", path.display()),
            ));
        }
        let figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file_exact(path))
            // Only double-underscore variables are configuration; others with the prefix
            // (CIC_BRIDGE_ADMIN_TOKEN, tenant tokens) are secrets read elsewhere.
            .merge(
                Env::prefixed("CIC_BRIDGE_")
                    .filter(|k| k.as_str().contains("__"))
                    .split("__"),
            );
        Config::extract(figment)
    }

    /// Loads defaults, then `text` as the file's contents, with the same checks as `load` but
    /// no environment and no file system: what the configuration fuzz target drives.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Config::extract(Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)))
    }

    fn extract(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract().map_err(|e| {
            let key = if e.path.is_empty() {
                "(file)".to_string()
            } else {
                e.path.join(".")
            };
            ConfigError::new(key, e.kind.to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: names, formats, references between keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.max_body_bytes < 1024 {
            return Err(ConfigError::new("server.max_body_bytes", "must be at least 1024"));
        }
        if self
            .server
            .admin_listen
            .is_some_and(|a| a == self.server.listen && a.port() != 0)
        {
            return Err(ConfigError::new(
                "server.admin_listen",
                "must differ from server.listen (leave it unset to serve admin routes on listen)",
            ));
        }
        if !(1..=300).contains(&self.server.status_sample_secs) {
            return Err(ConfigError::new(
                "server.status_sample_secs",
                "must be between 1 and 300",
            ));
        }
        if let Some(url) = &self.server.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::new(
                    "server.public_url",
                    "must start with http:// or https://",
                ));
            }
        }
        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "database.url",
                "must start with sqlite: or postgres://",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::new("database.max_connections", "must be at least 1"));
        }
        if self.scim.max_page_size == 0 || self.scim.max_page_size > 10_000 {
            return Err(ConfigError::new("scim.max_page_size", "must be between 1 and 10000"));
        }
        if self.scim.default_page_size == 0 || self.scim.default_page_size > self.scim.max_page_size {
            return Err(ConfigError::new(
                "scim.default_page_size",
                "must be between 1 and scim.max_page_size",
            ));
        }
        let endpoint = self.cic.endpoint.as_str();
        if !(endpoint == "china"
            || endpoint == "international"
            || endpoint.starts_with("http://")
            || endpoint.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "cic.endpoint",
                "must be china, international or an http(s) URL",
            ));
        }
        if self.cic.rate_limit_per_action == 0 {
            return Err(ConfigError::new("cic.rate_limit_per_action", "must be at least 1"));
        }
        for (action, n) in &self.cic.action_rate_limits {
            if *n == 0 {
                return Err(ConfigError::new(
                    format!("cic.action_rate_limits.{action}"),
                    "must be at least 1",
                ));
            }
        }
        if self.cic.request_timeout_secs == 0 || self.cic.connect_timeout_secs == 0 {
            return Err(ConfigError::new(
                "cic.request_timeout_secs",
                "timeouts must be at least 1 second",
            ));
        }
        let e = &self.engine;
        if e.workers == 0 || e.workers > 256 {
            return Err(ConfigError::new("engine.workers", "must be between 1 and 256"));
        }
        if e.lease_secs < 5 {
            return Err(ConfigError::new("engine.lease_secs", "must be at least 5"));
        }
        if e.max_attempts == 0 {
            return Err(ConfigError::new("engine.max_attempts", "must be at least 1"));
        }
        if e.retry_base_ms == 0 || e.retry_cap_secs.saturating_mul(1000) < e.retry_base_ms {
            return Err(ConfigError::new(
                "engine.retry_base_ms",
                "must be at least 1 and at most engine.retry_cap_secs",
            ));
        }
        if !(0.0..=1.0).contains(&e.fuse_share) {
            return Err(ConfigError::new("engine.fuse_share", "must be between 0 and 1"));
        }
        if e.create_wait_ms > 50_000 {
            return Err(ConfigError::new(
                "engine.create_wait_ms",
                "must be at most 50000 (Okta and Entra give up after 60 s)",
            ));
        }
        if self.tenants.is_empty() {
            return Err(ConfigError::new(
                "tenants",
                "at least one [[tenants]] entry is required",
            ));
        }
        let mut names = HashSet::new();
        let mut envs = HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            let valid_name = !t.name.is_empty()
                && t.name.len() <= 64
                && t.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_name {
                return Err(ConfigError::new(
                    format!("tenants[{i}].name"),
                    "1-64 characters of [A-Za-z0-9_-]",
                ));
            }
            if !names.insert(t.name.as_str()) {
                return Err(ConfigError::new(
                    format!("tenants[{i}].name"),
                    format!("duplicate tenant name \"{}\"", t.name),
                ));
            }
            if !is_zone_id(&t.zone_id) {
                return Err(ConfigError::new(
                    format!("tenants[{i}].zone_id"),
                    format!(
                        "\"{}\" is not an Identity Center zone id (z- followed by 12 of [a-z0-9])",
                        t.zone_id
                    ),
                ));
            }
            if t.token_env.is_empty() && t.jwt.is_none() {
                return Err(ConfigError::new(
                    format!("tenants[{i}].token_env"),
                    "name the environment variable holding the tenant's token, or configure [tenants.jwt]",
                ));
            }
            if let Some(j) = &t.jwt {
                validate_jwt(i, j)?;
                if let Some(other) = self.tenants[..i].iter().position(|o| {
                    o.jwt
                        .as_ref()
                        .is_some_and(|o| o.issuer == j.issuer && o.audience == j.audience)
                }) {
                    return Err(ConfigError::new(
                        format!("tenants[{i}].jwt.audience"),
                        format!("tenants[{other}] accepts the same issuer and audience; a JWT must select one tenant"),
                    ));
                }
            }
            if !t.token_env.is_empty() && !envs.insert(t.token_env.as_str()) {
                return Err(ConfigError::new(
                    format!("tenants[{i}].token_env"),
                    "two tenants cannot share a token",
                ));
            }
        }
        for (i, a) in self.assignments.iter().enumerate() {
            let key = |k: &str| format!("assignments[{i}].{k}");
            let selectors = [a.group.is_some(), a.group_pattern.is_some(), a.group_regex.is_some()];
            if selectors.iter().filter(|s| **s).count() != 1 {
                return Err(ConfigError::new(
                    key("group"),
                    "give exactly one of group, group_pattern, group_regex",
                ));
            }
            if a.group.as_deref().is_some_and(|g| g.trim().is_empty()) {
                return Err(ConfigError::new(key("group"), "must not be empty"));
            }
            if let Some(p) = &a.group_pattern {
                regex::Regex::new(p).map_err(|e| ConfigError::new(key("group_pattern"), e.to_string()))?;
            }
            if let Some(t) = &a.tenant {
                if !self.tenants.iter().any(|x| &x.name == t) {
                    return Err(ConfigError::new(key("tenant"), format!("no tenant named {t:?}")));
                }
            }
            if let Some(r) = &a.group_regex {
                let re = regex::Regex::new(r).map_err(|e| ConfigError::new(key("group_regex"), e.to_string()))?;
                let names: Vec<&str> = re.capture_names().flatten().collect();
                if !(names.contains(&"uin") && names.contains(&"role")) {
                    return Err(ConfigError::new(
                        key("group_regex"),
                        "needs the named captures (?P<uin>…) and (?P<role>…)",
                    ));
                }
                if a.role_configuration_id.is_some()
                    || a.role_configuration.is_some()
                    || !a.target_uins.is_empty()
                    || a.all_accounts
                    || !a.departments.is_empty()
                    || !a.account_tags.is_empty()
                    || !a.exclude_uins.is_empty()
                {
                    return Err(ConfigError::new(
                        key("group_regex"),
                        "takes account and role configuration from the group name; remove role_configuration*, target_uins, all_accounts, departments, account_tags and exclude_uins",
                    ));
                }
                continue;
            }
            match (&a.role_configuration_id, &a.role_configuration) {
                (Some(id), None) if id.starts_with("rc-") => {}
                (Some(_), None) => {
                    return Err(ConfigError::new(
                        key("role_configuration_id"),
                        "must be a role configuration id (rc-…)",
                    ));
                }
                (None, Some(name)) if !name.trim().is_empty() => {}
                _ => {
                    return Err(ConfigError::new(
                        key("role_configuration_id"),
                        "give exactly one of role_configuration_id, role_configuration",
                    ));
                }
            }
            let scopes = [!a.target_uins.is_empty(), a.all_accounts, !a.departments.is_empty()];
            match scopes.iter().filter(|s| **s).count() {
                0 if !a.account_tags.is_empty() => {}
                1 => {}
                _ => {
                    return Err(ConfigError::new(
                        key("target_uins"),
                        "give exactly one of target_uins, all_accounts = true, departments (or account_tags alone)",
                    ));
                }
            }
            if !a.target_uins.is_empty() && (!a.account_tags.is_empty() || !a.exclude_uins.is_empty()) {
                return Err(ConfigError::new(
                    key("account_tags"),
                    "account_tags and exclude_uins narrow departments or all_accounts; target_uins lists the accounts itself",
                ));
            }
            for (j, d) in a.departments.iter().enumerate() {
                if let DepartmentRef::Path(p) = d {
                    if p.split('/').all(|part| part.trim().is_empty()) {
                        return Err(ConfigError::new(
                            format!("assignments[{i}].departments[{j}]"),
                            "a department path names at least one department (\"Production/Payments\")",
                        ));
                    }
                }
            }
            if a.account_tags.keys().any(|k| k.trim().is_empty()) {
                return Err(ConfigError::new(key("account_tags"), "a tag key must not be empty"));
            }
        }
        Ok(())
    }
}

fn validate_jwt(i: usize, j: &JwtConfig) -> Result<(), ConfigError> {
    let key = |k: &str| format!("tenants[{i}].jwt.{k}");
    if j.issuer.trim().is_empty() {
        return Err(ConfigError::new(key("issuer"), "must not be empty"));
    }
    if j.audience.trim().is_empty() {
        return Err(ConfigError::new(key("audience"), "must not be empty"));
    }
    match (&j.jwks_url, &j.key) {
        (Some(url), None) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError::new(key("jwks_url"), "must be an http(s) URL"));
            }
        }
        (None, Some(k)) if !k.trim().is_empty() => {}
        _ => {
            return Err(ConfigError::new(key("jwks_url"), "give exactly one of jwks_url, key"));
        }
    }
    if j.algorithms.is_empty() {
        return Err(ConfigError::new(key("algorithms"), "name at least one algorithm"));
    }
    for a in &j.algorithms {
        if !JWT_ALGORITHMS.contains(&a.as_str()) {
            return Err(ConfigError::new(
                key("algorithms"),
                format!("{a:?} is not accepted; use {}", JWT_ALGORITHMS.join(", ")),
            ));
        }
    }
    if j.leeway_secs > 600 {
        return Err(ConfigError::new(key("leeway_secs"), "must be at most 600"));
    }
    Ok(())
}

/// `z-` followed by 12 characters of `[a-z0-9]` (tencent-cic-api.md, ID formats).
pub fn is_zone_id(s: &str) -> bool {
    s.strip_prefix("z-")
        .is_some_and(|rest| rest.len() == 12 && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(contents: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(f.path(), contents).expect("write");
        f
    }

    #[test]
    fn example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/cic-bridge.example.toml");
        let c = Config::load(&path).expect("the shipped example loads");
        assert_eq!(c.tenants[0].on_conflict, OnConflict::Reject);
    }

    #[test]
    fn example_rules_are_valid_once_uncommented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/cic-bridge.example.toml");
        let text = std::fs::read_to_string(path).expect("example");
        let (head, rules) = text.split_once("# --- example rules ---").expect("marker");
        let rules: String = rules
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let f = write(&format!("{head}\n{rules}"));
        let c = Config::load(f.path()).expect("the example rules load");
        assert_eq!(c.assignments.len(), 3);
        assert!(c.assignments[2].group_regex.is_some());
    }

    #[test]
    fn a_config_from_text_is_the_file_without_the_environment() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/cic-bridge.example.toml");
        let text = std::fs::read_to_string(&path).expect("example");
        let from_text = Config::from_toml_str(&text).expect("the shipped example loads from text");
        let from_file = Config::load(&path).expect("the shipped example loads");
        assert_eq!(from_text.tenants[0].zone_id, from_file.tenants[0].zone_id);
        let e = Config::from_toml_str("[server\n").expect_err("not TOML");
        assert_eq!(e.key, "(file)");
        let e = Config::from_toml_str("").expect_err("no tenant");
        assert_eq!(e.key, "tenants");
    }

    #[test]
    fn a_retry_cap_too_large_to_count_in_milliseconds_is_checked_without_overflow() {
        // The cap was multiplied by 1000 unchecked: loading such a file panicked (a wrong
        // answer in release builds). Seen while writing the config fuzz target, which crashes
        // on fuzz/regressions/config/retry-cap-secs-times-1000-overflow.toml without the fix.
        let tenant = "[[tenants]]\nname=\"a\"\nzone_id=\"z-abcdefghijkl\"\ntoken_env=\"T\"\n";
        let c = Config::from_toml_str(&format!("[engine]\nretry_cap_secs = {}\n{tenant}", i64::MAX))
            .expect("a cap longer than any base is valid");
        assert_eq!(c.engine.retry_cap_secs, i64::MAX as u64);
        let e = Config::from_toml_str(&format!("[engine]\nretry_cap_secs = 1\nretry_base_ms = 1001\n{tenant}"))
            .expect_err("the base is longer than the cap");
        assert_eq!(e.key, "engine.retry_base_ms");
    }

    #[test]
    fn unknown_key_names_the_key() {
        let f = write(
            "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n[[tenants]]\nname=\"a\"\nzone_id=\"z-abcdefghijkl\"\ntoken_env=\"T\"\n",
        );
        let e = Config::load(f.path()).expect_err("error");
        assert!(e.to_string().contains("lisen"), "{e}");
    }

    #[test]
    fn bad_zone_names_key_and_reason() {
        let f = write("[[tenants]]\nname=\"a\"\nzone_id=\"zone1\"\ntoken_env=\"T\"\n");
        let e = Config::load(f.path()).expect_err("error");
        assert_eq!(e.key, "tenants[0].zone_id");
        let f = write("[[tenants]]\nname=\"a\"\nzone_id=\"z-abcdefghijkl\"\ntoken_env=\"T\"\non_conflict=\"merge\"\n");
        let e = Config::load(f.path()).expect_err("error");
        assert!(e.key.contains("on_conflict"), "{e}");
    }

    #[test]
    fn a_jwt_only_tenant_needs_no_token_env_and_bad_jwt_settings_name_the_key() {
        let base = "[[tenants]]\nname=\"a\"\nzone_id=\"z-abcdefghijkl\"\n";
        let f = write(&format!(
            "{base}[tenants.jwt]\nissuer=\"https://sts.windows.net/t/\"\naudience=\"aud\"\njwks_url=\"https://login.example/keys\"\n"
        ));
        let c = Config::load(f.path()).expect("JWT only is valid");
        let jwt = c.tenants[0].jwt.as_ref().expect("jwt");
        assert_eq!(jwt.algorithms, vec!["RS256".to_string()]);
        let f = write(base);
        let e = Config::load(f.path()).expect_err("neither token nor JWT");
        assert_eq!(e.key, "tenants[0].token_env");
        let f = write(&format!(
            "{base}[tenants.jwt]\nissuer=\"i\"\naudience=\"a\"\nkey=\"k\"\nalgorithms=[\"HS256\"]\n"
        ));
        let e = Config::load(f.path()).expect_err("HMAC refused");
        assert_eq!(e.key, "tenants[0].jwt.algorithms");
        let f = write(&format!("{base}[tenants.jwt]\nissuer=\"i\"\naudience=\"a\"\n"));
        let e = Config::load(f.path()).expect_err("no key source");
        assert_eq!(e.key, "tenants[0].jwt.jwks_url");
    }
}
