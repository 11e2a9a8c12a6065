//! `cic-bridge check-config` and `cic-bridge token new`: configuration checks an operator runs
//! before (re)starting the daemon, and fresh tokens.

use std::path::Path;
use std::sync::Arc;

use rand::TryRngCore;

use crate::app::Secrets;
use crate::config::{Config, ConfigError, TenantMode};
use crate::tencent::Credentials;

/// Minimum length of a static token (also enforced at start-up).
const MIN_TOKEN_LEN: usize = 16;

/// Every problem with the configuration at `path` and the environment it needs, as
/// `key: reason` lines; empty when the daemon would start. Secret values are never part of a
/// message. `online` also asks Identity Center whether the rules' role configurations and
/// accounts exist.
pub async fn check_config(path: &Path, online: bool, env: impl Fn(&str) -> Option<String>) -> Vec<String> {
    check_config_report(path, online, env).await.0
}

/// [`check_config`], and with `online` and no problem, what each rule resolves to now (one
/// line per rule and tenant: its accounts and why each is targeted).
pub async fn check_config_report(
    path: &Path,
    online: bool,
    env: impl Fn(&str) -> Option<String>,
) -> (Vec<String>, Vec<String>) {
    let mut report = Vec::new();
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => return (vec![format!("{}: {}", e.key, e.reason)], report),
    };
    let mut problems = Vec::new();
    for (i, t) in config.tenants.iter().enumerate() {
        if !t.token_env.is_empty() {
            match env(&t.token_env) {
                None => problems.push(format!(
                    "tenants[{i}].token_env: environment variable {} is not set",
                    t.token_env
                )),
                Some(v) if v.trim().len() < MIN_TOKEN_LEN => problems.push(format!(
                    "tenants[{i}].token_env: environment variable {} holds fewer than {MIN_TOKEN_LEN} characters",
                    t.token_env
                )),
                Some(_) => {}
            }
        }
        if let Some(j) = &t.jwt {
            let tenant = Arc::new(crate::http::auth::Tenant {
                name: t.name.clone(),
                zone_id: t.zone_id.clone(),
            });
            if let Err(ConfigError { key, reason }) = crate::http::jwt::JwtVerifier::new(i, tenant, j) {
                problems.push(format!("{key}: {reason}"));
            }
        }
    }
    let any_live = config.tenants.iter().any(|t| t.mode == TenantMode::Live);
    let credentials = Credentials::from_lookup(&env);
    if let (true, Err(e)) = (any_live, &credentials) {
        problems.push(format!(
            "TENCENTCLOUD_SECRET_ID: {e}; live tenants need Identity Center credentials"
        ));
    }
    if let Some(v) = env("CIC_BRIDGE_ADMIN_TOKEN") {
        if v.trim().len() < MIN_TOKEN_LEN {
            problems.push(format!(
                "CIC_BRIDGE_ADMIN_TOKEN: holds fewer than {MIN_TOKEN_LEN} characters"
            ));
        }
    }
    if let Err(e) = crate::engine::rules::Rules::new(&config.assignments) {
        problems.push(format!("{}: {}", e.key, e.reason));
    }
    if online && problems.is_empty() {
        let (p, r) = check_online(&config, credentials.ok()).await;
        problems.extend(p);
        report = r;
    }
    (problems, report)
}

async fn check_online(config: &Config, credentials: Option<Credentials>) -> (Vec<String>, Vec<String>) {
    let secrets = Secrets {
        tenant_tokens: Vec::new(),
        cic: credentials,
        admin_token: None,
    };
    let store = match crate::store::Store::connect("sqlite::memory:", 1, false).await {
        Ok(s) => s,
        Err(e) => return (vec![format!("(internal): {e}")], Vec::new()),
    };
    let engine = match crate::app::build_engine(config, &secrets, store.clone(), crate::tencent::clock::system_clock())
    {
        Ok(e) => e,
        Err(e) => return (vec![format!("cic: {e:#}")], Vec::new()),
    };
    let mut problems = Vec::new();
    for (i, t) in config.tenants.iter().enumerate() {
        if t.mode != TenantMode::Live {
            continue;
        }
        if let Err(e) = engine.role_configurations(&t.zone_id).await {
            problems.push(format!(
                "tenants[{i}].zone_id: cannot list the zone's role configurations: {e}"
            ));
        }
    }
    if problems.is_empty() {
        match engine.validate_rules(&engine.rules()).await {
            Ok(p) => problems.extend(p.into_iter().map(|p| format!("assignments: {p}"))),
            Err(e) => problems.push(format!("cic.endpoint: cannot reach Identity Center: {e}")),
        }
    }
    let mut report = Vec::new();
    if problems.is_empty() {
        match engine.rule_accounts().await {
            Ok(lines) => report = lines,
            Err(e) => problems.push(format!("cic.endpoint: cannot read the organization: {e}")),
        }
    }
    store.close().await;
    (problems, report)
}

/// A fresh token: 32 random bytes from the operating system's generator, hex-encoded.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| format!("the operating system's random generator failed: {e}"))?;
    Ok(hex::encode(bytes))
}

/// The environment variable for `tenant`'s token: its `token_env` in `config`, or the
/// conventional `CIC_BRIDGE_TOKEN_<TENANT>`.
pub fn token_env_name(tenant: &str, config: Option<&Config>) -> Result<String, String> {
    match config {
        Some(c) => {
            let t = c
                .tenants
                .iter()
                .find(|t| t.name == tenant)
                .ok_or_else(|| format!("no tenant named {tenant:?} in the configuration"))?;
            if t.token_env.is_empty() {
                return Err(format!(
                    "tenant {tenant:?} has no token_env (it uses JWTs only); add token_env = \"{}\" to give it a static token",
                    default_env(tenant)
                ));
            }
            Ok(t.token_env.clone())
        }
        None => Ok(default_env(tenant)),
    }
}

fn default_env(tenant: &str) -> String {
    let up: String = tenant
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("CIC_BRIDGE_TOKEN_{up}")
}
