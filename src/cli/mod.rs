//! Command line: the clap definitions here, each subcommand's body in its own module.

pub mod admin;
pub mod audit;
pub mod check_config;
pub mod emulator;
pub mod explain;
pub mod jobs;
pub mod organization;
pub mod provision;
pub mod reconcile;
pub mod serve;
pub mod status;
pub mod tasks;
pub mod token;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::app::{self, Secrets};
use crate::config::{Config, TenantMode};
use crate::engine::Engine;
use crate::store::Store;

/// Runs a command that changes the store (a retry, a queued deployment, reconciliation fixes)
/// as the operator's, for the audit trail: `cli jobs (user alice)`. Only those commands: the
/// daemon's own work is never attributed to the shell that started it.
pub async fn as_operator<F: std::future::Future>(command: &str, f: F) -> F::Output {
    let user = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned());
    let origin = crate::store::Origin::system(&format!("cli {command} (user {user})"));
    crate::store::audit::acting(origin, f).await
}

#[derive(Debug, Parser)]
#[command(
    name = "cic-bridge",
    version,
    about = "SCIM 2.0 bridge to Tencent Cloud Identity Center"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Serve(ServeArgs),
    /// Run an emulator of the Tencent Cloud Identity Center API (for development and CI).
    Emulator(crate::emulator::EmulatorArgs),
    /// Ask a running daemon for its status (`GET /admin/status` with CIC_BRIDGE_ADMIN_TOKEN)
    /// and print it: tenants and queues, Identity Center reachability, alarms, failures.
    Status {
        /// Find the daemon's admin address in this configuration (server.admin_listen, else
        /// server.listen)…
        #[arg(long, required_unless_present = "url", conflicts_with = "url")]
        config: Option<PathBuf>,
        /// …or give its base URL, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        url: Option<String>,
        /// Print the JSON as the API returns it.
        #[arg(long)]
        json: bool,
    },
    /// The organization (departments and member accounts) that department and tag rules
    /// resolve against, through a running daemon's admin API.
    #[command(subcommand)]
    Organization(OrganizationCommand),
    /// Inspect and retry provisioning operations (works on the database of --config).
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Queue ProvisionRoleConfiguration of a role configuration on one account or on every
    /// member account; a running daemon deploys it and follows the tasks.
    Provision(ProvisionArgs),
    /// Compare the store with Identity Center and print the differences as a plan; with
    /// --apply, queue the fixes (a running daemon carries them out).
    Reconcile {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        apply: bool,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Why a user has which roles on which accounts (USER: userName or SCIM id), or with
    /// --account, who has which roles on an account and why.
    Explain {
        #[arg(long)]
        config: PathBuf,
        #[arg(required_unless_present = "account", conflicts_with = "account")]
        user: Option<String>,
        #[arg(long, value_name = "UIN")]
        account: Option<u64>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Parse and validate a configuration file and check that the secrets it names are in the
    /// environment (never printing them); --online also checks the rules against Identity
    /// Center. Exit status 0 when all is well, 1 with `key: reason` lines otherwise.
    CheckConfig {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        online: bool,
    },
    /// SCIM tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit trail (works on the database of --config): records of the changes accepted
    /// and made, oldest first, filtered; or `audit verify`, which checks the hash chain.
    Audit(AuditArgs),
    /// List the Identity Center tasks cic-bridge started (assignments, deployments).
    Tasks {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        tenant: Option<String>,
        /// InProgress, Success or Failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A user (userName or SCIM id): its records and those of the groups it was a member of.
    #[arg(long)]
    pub user: Option<String>,
    /// A group (displayName or SCIM id).
    #[arg(long)]
    pub group: Option<String>,
    /// An account UIN: the calls and tasks that targeted it.
    #[arg(long, value_name = "UIN")]
    pub account: Option<u64>,
    /// One action, e.g. CreateRoleAssignment, group.member.add, task.end.
    #[arg(long)]
    pub action: Option<String>,
    #[arg(long)]
    pub tenant: Option<String>,
    /// From this time on (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// Before this time (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
    /// One JSON document with every record.
    #[arg(long, conflicts_with = "jsonl")]
    pub json: bool,
    /// One JSON object per line (for a SIEM); pages through everything that matches.
    #[arg(long)]
    pub jsonl: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Seal what is committed, then check every record against the hash chain; exit status 1
    /// naming the first edited or missing record.
    Verify {
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a fresh random SCIM token (shown once) and the environment line that installs it.
    New {
        #[arg(long)]
        tenant: String,
        /// Take the variable name from the tenant's token_env.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    #[arg(long)]
    pub config: PathBuf,
    /// Role configuration id (rc-…).
    #[arg(long, value_name = "ID")]
    pub role_configuration: String,
    /// The account UIN…
    #[arg(
        long,
        value_name = "UIN",
        conflicts_with = "all_accounts",
        required_unless_present = "all_accounts"
    )]
    pub account: Option<u64>,
    /// …or every member account of the organization.
    #[arg(long)]
    pub all_accounts: bool,
    /// Tenant (zone); may be left out when the configuration has one tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum OrganizationCommand {
    /// Read the organization now (`POST /admin/organization/refresh`): when it changed, the
    /// rules are resolved again; prints what the refresh did.
    Refresh {
        /// Find the daemon's admin address in this configuration…
        #[arg(long, required_unless_present = "url", conflicts_with = "url")]
        config: Option<PathBuf>,
        /// …or give its base URL, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        url: Option<String>,
    },
    /// Print the snapshot's age, size, a held refresh and the last error (from
    /// `/admin/status`).
    Show {
        #[arg(long, required_unless_present = "url", conflicts_with = "url")]
        config: Option<PathBuf>,
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List operations, newest first.
    List {
        #[arg(long)]
        config: PathBuf,
        /// pending, running, done, failed, parked or held.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Put operations back in the queue, due now: one by id, or every failed, parked or held
    /// one (held operations are thereby released from the destructive-change fuse).
    Retry {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, conflicts_with_all = ["failed", "parked", "held"])]
        id: Option<i64>,
        #[arg(long)]
        failed: bool,
        #[arg(long)]
        parked: bool,
        #[arg(long)]
        held: bool,
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); see config/cic-bridge.example.toml.
    #[arg(long, required_unless_present = "dev", conflicts_with = "dev")]
    pub config: Option<PathBuf>,
    /// Development mode: SQLite in --data-dir, one tenant, a generated SCIM token printed on start.
    #[arg(long)]
    pub dev: bool,
    /// Address to listen on in --dev mode (port 0 picks a free port).
    #[arg(long, requires = "dev", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Data directory for --dev mode.
    #[arg(long, requires = "dev", default_value = "cic-bridge-data")]
    pub data_dir: PathBuf,
    /// In --dev mode, record every Identity Center operation without sending it (the tenant's
    /// `mode = "shadow"`).
    #[arg(long, requires = "dev")]
    pub shadow: bool,
    /// Address of the in-process Identity Center emulator in --dev mode.
    #[arg(long, requires = "dev", default_value = "127.0.0.1:9400")]
    pub emulator_listen: SocketAddr,
    /// In --dev mode, `[[assignments]]` rules from this TOML file (as in a configuration
    /// file; the dev tenant is named "dev").
    #[arg(long, requires = "dev", value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// In --dev mode, a department of the emulated organization and the member accounts in it
    /// (repeatable), as `cic-bridge emulator --department`.
    #[arg(long = "department", requires = "dev", value_name = "PATH[=UIN,...]", value_parser = crate::emulator::parse_department)]
    pub department: Vec<(String, Vec<u64>)>,
    /// In --dev mode, a tag on a member account of the emulated organization (repeatable).
    #[arg(long = "member-tag", requires = "dev", value_name = "UIN:KEY=VALUE", value_parser = crate::emulator::parse_member_tag)]
    pub member_tag: Vec<(u64, String, String)>,
}

/// The engine for a one-off command: the Identity Center credentials from the environment,
/// no SCIM tokens (the command serves nothing).
async fn cli_engine(path: &Path) -> anyhow::Result<(Store, Arc<Engine>)> {
    let config = Config::load(path)?;
    let secrets = Secrets {
        tenant_tokens: Vec::new(),
        cic: crate::tencent::Credentials::from_env().ok(),
        admin_token: None,
    };
    let any_live = config.tenants.iter().any(|t| t.mode == TenantMode::Live);
    anyhow::ensure!(
        secrets.cic.is_some() || !any_live,
        "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY must be set to compare with Identity Center"
    );
    let store = app::open_store(&config).await?;
    let engine = app::build_engine(&config, &secrets, store.clone(), crate::tencent::clock::system_clock())?;
    Ok((store, engine))
}
