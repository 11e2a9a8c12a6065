//! `serve --dev`: the embedded default. SQLite in a local data directory, one tenant, a SCIM
//! token generated on first start and kept in the data directory (mode 0600), so that an IdP
//! configured once keeps working across restarts, and the Identity Center emulator in-process.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use rand::RngCore;
use secrecy::SecretString;

use crate::app::Secrets;
use crate::config::{Config, TenantConfig};

pub struct Dev {
    pub config: Config,
    pub secrets: Secrets,
    pub token: String,
    pub admin_token: String,
}

pub const DEV_TENANT: &str = "dev";
/// The zone the dev tenant provisions into.
pub const DEV_ZONE: &str = "z-devzone00001";

pub fn prepare(data_dir: &Path, listen: SocketAddr) -> anyhow::Result<Dev> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let token = match std::env::var("CIC_BRIDGE_DEV_TOKEN") {
        Ok(t) if t.len() >= 16 => t,
        Ok(_) => anyhow::bail!("CIC_BRIDGE_DEV_TOKEN must be at least 16 characters"),
        Err(_) => load_or_create_token(&data_dir.join("dev-token"))?,
    };
    let admin_token = match std::env::var("CIC_BRIDGE_ADMIN_TOKEN") {
        Ok(t) if t.len() >= 16 => t,
        Ok(_) => anyhow::bail!("CIC_BRIDGE_ADMIN_TOKEN must be at least 16 characters"),
        Err(_) => load_or_create_token(&data_dir.join("admin-token"))?,
    };
    let db = data_dir.join("cic-bridge.db");
    let mut config = Config::default();
    config.server.listen = listen;
    config.database.url = format!("sqlite://{}", db.display()).into();
    config.tenants = vec![TenantConfig {
        name: DEV_TENANT.to_string(),
        zone_id: DEV_ZONE.to_string(),
        token_env: "CIC_BRIDGE_DEV_TOKEN".to_string(),
        on_conflict: Default::default(),
        on_username_change: Default::default(),
        mode: Default::default(),
        jwt: None,
    }];
    config.validate()?;
    let secrets = Secrets {
        tenant_tokens: vec![(DEV_TENANT.to_string(), SecretString::from(token.clone()))],
        cic: None,
        admin_token: Some(SecretString::from(admin_token.clone())),
    };
    Ok(Dev {
        config,
        secrets,
        token,
        admin_token,
    })
}

fn load_or_create_token(path: &Path) -> anyhow::Result<String> {
    if let Ok(t) = std::fs::read_to_string(path) {
        let t = t.trim().to_string();
        if t.len() >= 16 {
            return Ok(t);
        }
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    write_private(path, &token).with_context(|| format!("writing {}", path.display()))?;
    Ok(token)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// The dev emulator's starting organization (`--department`, `--member-tag`).
#[derive(Debug, Default)]
pub struct Organization {
    pub departments: Vec<(String, Vec<u64>)>,
    pub member_tags: Vec<(u64, String, String)>,
}

/// `[[assignments]]` rules from `path` (`serve --dev --rules`), checked like a configuration's.
pub fn load_rules(dev: &mut Dev, path: &Path) -> anyhow::Result<()> {
    use figment::providers::{Format, Toml};
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rules {
        #[serde(default)]
        assignments: Vec<crate::config::AssignmentConfig>,
    }
    let rules: Rules = figment::Figment::from(Toml::file_exact(path))
        .extract()
        .with_context(|| format!("reading the rules in {}", path.display()))?;
    dev.config.assignments = rules.assignments;
    dev.config.validate()?;
    Ok(())
}

/// Starts the in-process Identity Center emulator (zone [`DEV_ZONE`], credentials generated
/// for this run) on `listen`, points `dev.config` and `dev.secrets` at it, and returns its
/// address. It stops with `shutdown`.
pub async fn start_emulator(
    dev: &mut Dev,
    listen: SocketAddr,
    organization: Organization,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<SocketAddr> {
    use crate::emulator::{Emulator, EmulatorConfig, EmulatorCredential};
    let mut key = [0u8; 16];
    rand::rng().fill_bytes(&mut key);
    let secret_id = format!("AKIDdev{}", &hex::encode(key)[..16]);
    let secret_key = hex::encode(key);
    let mut config = EmulatorConfig::new(EmulatorCredential::new(secret_id.clone(), secret_key.clone()));
    config.settings.zone_id = DEV_ZONE.to_string();
    config.settings.departments = organization.departments;
    config.settings.member_tags = organization.member_tags;
    let problems = crate::emulator::state::organization_problems(&config.settings);
    anyhow::ensure!(problems.is_empty(), "{}", problems.join("; "));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the emulator to {listen}"))?;
    let addr = listener.local_addr()?;
    let emulator = Emulator::new(config);
    tokio::spawn(async move {
        if let Err(e) = emulator.serve(listener, shutdown).await {
            tracing::error!(error = %e, "the Identity Center emulator stopped");
        }
    });
    dev.config.cic.endpoint = format!("http://{addr}");
    dev.secrets.cic = Some(crate::tencent::Credentials::new(secret_id, secret_key));
    Ok(addr)
}

/// What a newcomer needs to point an IdP (or curl) at the dev daemon. Printed to stdout on
/// purpose: dev mode exists to be tried by hand.
pub fn print_banner(addr: SocketAddr, emulator: SocketAddr, data_dir: &Path, token: &str, admin_token: &str) {
    println!("cic-bridge {} (dev mode)", env!("CARGO_PKG_VERSION"));
    println!("  SCIM base URL: http://{addr}/scim/v2");
    println!("  SCIM token: {token}");
    println!("  data directory: {}", data_dir.display());
    println!("  admin token: {admin_token} (GET http://{addr}/admin/status)");
    println!("  status page: http://{addr}/admin (any user name, the admin token as password)");
    println!("  Identity Center emulator: http://{emulator} (zone {DEV_ZONE})");
    println!("  try: curl -H 'Authorization: Bearer {token}' http://{addr}/scim/v2/Users");
    println!("  and: curl http://{emulator}/_emulator/snapshot");
}
