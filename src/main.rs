//! `cic-bridge`: parse the command line, load the configuration, start logging, run.

use std::process::ExitCode;

/// mimalloc instead of glibc malloc: a SCIM request allocates a few hundred small JSON nodes,
/// often freed on another thread than the one that allocated them; profiling put glibc's
/// malloc/free at about a fifth of a filter lookup's instructions.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

use cic_bridge::app::{self, Secrets};
use cic_bridge::cli::{Cli, Command, ServeArgs};
use cic_bridge::config::Config;
use cic_bridge::{dev, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cic-bridge: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Emulator(args) => emulator(args).await,
            Command::Jobs(cmd) => jobs(cmd).await,
            Command::Status { config, url, json } => status(config, url, json).await,
            Command::Provision(args) => provision(args).await,
            Command::Reconcile {
                config,
                tenant,
                apply,
                json,
            } => reconcile(config, tenant, apply, json).await,
            Command::Explain {
                config,
                user,
                account,
                tenant,
                json,
            } => explain(config, user, account, tenant, json).await,
            Command::CheckConfig { config, online } => {
                let problems = cic_bridge::check::check_config(&config, online, |k| std::env::var(k).ok()).await;
                if problems.is_empty() {
                    println!("{}: ok", config.display());
                    Ok(())
                } else {
                    for p in &problems {
                        println!("{p}");
                    }
                    Err(anyhow::anyhow!("{} problem(s) in {}", problems.len(), config.display()))
                }
            }
            Command::Token(cic_bridge::cli::TokenCommand::New { tenant, config }) => token_new(tenant, config),
            Command::Tasks {
                config,
                tenant,
                status,
                limit,
            } => tasks(config, tenant, status, limit).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cic-bridge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The engine for a one-off command: the Identity Center credentials from the environment,
/// no SCIM tokens (the command serves nothing).
async fn cli_engine(
    path: &std::path::Path,
) -> anyhow::Result<(
    Config,
    cic_bridge::store::Store,
    std::sync::Arc<cic_bridge::engine::Engine>,
)> {
    let config = Config::load(path)?;
    let secrets = Secrets {
        tenant_tokens: Vec::new(),
        cic: cic_bridge::tencent::Credentials::from_env().ok(),
        admin_token: None,
    };
    let any_live = config
        .tenants
        .iter()
        .any(|t| t.mode == cic_bridge::config::TenantMode::Live);
    anyhow::ensure!(
        secrets.cic.is_some() || !any_live,
        "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY must be set to compare with Identity Center"
    );
    let store = app::open_store(&config).await?;
    let engine = app::build_engine(
        &config,
        &secrets,
        store.clone(),
        cic_bridge::tencent::clock::system_clock(),
    )?;
    Ok((config, store, engine))
}

async fn reconcile(config: std::path::PathBuf, tenant: Option<String>, apply: bool, json: bool) -> anyhow::Result<()> {
    let (_, store, engine) = cli_engine(&config).await?;
    let plans = engine.reconcile(tenant.as_deref(), apply).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&plans)?);
    } else {
        for p in &plans {
            print!("{}", p.render());
        }
    }
    store.close().await;
    Ok(())
}

async fn explain(
    config: std::path::PathBuf,
    user: Option<String>,
    account: Option<u64>,
    tenant: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    use cic_bridge::engine::explain::{render_account, render_user};
    let (_, store, engine) = cli_engine(&config).await?;
    let (value, text) = match (user, account) {
        (Some(u), _) => {
            let v = engine
                .explain_user(&u, tenant.as_deref())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user {u:?} (by userName or SCIM id)"))?;
            let t = render_user(&v);
            (v, t)
        }
        (None, Some(uin)) => {
            let v = engine.explain_account(uin, tenant.as_deref()).await?;
            let t = render_account(&v);
            (v, t)
        }
        (None, None) => anyhow::bail!("give USER or --account UIN"),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{text}");
    }
    store.close().await;
    Ok(())
}

fn token_new(tenant: String, config: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let config = config.map(|p| Config::load(&p)).transpose()?;
    let env = cic_bridge::check::token_env_name(&tenant, config.as_ref()).map_err(anyhow::Error::msg)?;
    let token = cic_bridge::check::new_token().map_err(anyhow::Error::msg)?;
    println!("A new SCIM token for tenant {tenant}. It is shown only this once: give it to the IdP");
    println!("(Okta: Authorization header \"Bearer <token>\"; Entra ID: Secret Token) and put this line");
    println!("in the daemon's environment (e.g. its systemd EnvironmentFile), then restart the daemon:");
    println!();
    println!("{env}={token}");
    Ok(())
}

async fn provision(args: cic_bridge::cli::ProvisionArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let tenant = match (&args.tenant, config.tenants.as_slice()) {
        (Some(t), _) => {
            anyhow::ensure!(config.tenants.iter().any(|x| &x.name == t), "no tenant named {t:?}");
            t.clone()
        }
        (None, [only]) => only.name.clone(),
        (None, _) => anyhow::bail!("several tenants are configured: say which with --tenant"),
    };
    anyhow::ensure!(
        args.role_configuration.starts_with("rc-"),
        "--role-configuration takes a role configuration id (rc-…)"
    );
    let target = match args.account {
        Some(uin) => uin.to_string(),
        None => "*".to_string(),
    };
    let store = app::open_store(&config).await?;
    let id = store
        .enqueue_op(
            &tenant,
            cic_bridge::store::OpKind::Deploy,
            &args.role_configuration,
            Some(&target),
            time::OffsetDateTime::now_utc(),
        )
        .await?;
    println!(
        "queued job {id}: deploy {} on {}; follow it with `cic-bridge jobs list` and `cic-bridge tasks`",
        args.role_configuration,
        if target == "*" {
            "every member account".to_string()
        } else {
            format!("account {target}")
        }
    );
    store.close().await;
    Ok(())
}

async fn tasks(
    config: std::path::PathBuf,
    tenant: Option<String>,
    status: Option<String>,
    limit: i64,
) -> anyhow::Result<()> {
    let config = Config::load(&config)?;
    let store = app::open_store(&config).await?;
    let rows = store
        .tasks(tenant.as_deref(), None, None, status.as_deref(), limit.clamp(1, 10_000))
        .await?;
    println!(
        "{:<16} {:<28} {:<10} {:<16} {:>14} {:>5}  {:<38}  failure",
        "task", "type", "status", "role config", "account", "polls", "group"
    );
    for t in rows {
        println!(
            "{:<16} {:<28} {:<10} {:<16} {:>14} {:>5}  {:<38}  {}",
            t.task_id,
            t.task_type,
            t.status,
            t.role_configuration_id,
            t.target_uin,
            t.polls,
            t.scim_group.as_deref().unwrap_or("-"),
            t.failure_reason.as_deref().unwrap_or("")
        );
    }
    store.close().await;
    Ok(())
}

async fn jobs(cmd: cic_bridge::cli::JobsCommand) -> anyhow::Result<()> {
    use cic_bridge::cli::JobsCommand;
    match cmd {
        JobsCommand::List {
            config,
            state,
            tenant,
            limit,
        } => {
            let config = Config::load(&config)?;
            let store = app::open_store(&config).await?;
            let ops = store
                .list_ops(tenant.as_deref(), state.as_deref(), limit.clamp(1, 10_000))
                .await?;
            println!(
                "{:>8}  {:<8} {:<13} {:<8} {:>3}  {:<40}  last error / result",
                "id", "tenant", "kind", "state", "try", "resource"
            );
            for o in ops {
                let resource = match &o.related_id {
                    Some(r) => format!("{}:{r}", o.resource_id),
                    None => o.resource_id.clone(),
                };
                let detail = match (&o.error_code, &o.last_error) {
                    (Some(code), Some(msg)) => format!(
                        "{code}: {msg}{}",
                        o.error_request_id
                            .as_deref()
                            .map(|r| format!(" (RequestId {r})"))
                            .unwrap_or_default()
                    ),
                    (None, Some(msg)) => msg.clone(),
                    _ => o.result.clone().unwrap_or_default(),
                };
                println!(
                    "{:>8}  {:<8} {:<13} {:<8} {:>3}  {:<40}  {detail}",
                    o.id,
                    o.tenant,
                    o.kind,
                    o.state.as_str(),
                    o.attempts,
                    resource
                );
            }
            store.close().await;
            Ok(())
        }
        JobsCommand::Retry {
            config,
            id,
            failed,
            parked,
            held,
            tenant,
        } => {
            let config = Config::load(&config)?;
            let store = app::open_store(&config).await?;
            let mut states = Vec::new();
            if id.is_some() {
                states.extend(["failed", "parked", "held"]);
            }
            if failed {
                states.push("failed");
            }
            if parked {
                states.push("parked");
            }
            if held {
                states.push("held");
            }
            anyhow::ensure!(
                !states.is_empty(),
                "say which operations: --id N, --failed, --parked or --held"
            );
            let n = store
                .retry_ops(id, tenant.as_deref(), &states, time::OffsetDateTime::now_utc())
                .await?;
            println!("{n} operation(s) queued again; a running daemon picks them up within a second");
            store.close().await;
            Ok(())
        }
    }
}

async fn emulator(args: cic_bridge::emulator::EmulatorArgs) -> anyhow::Result<()> {
    telemetry::init(cic_bridge::config::LogFormat::Human, "info");
    let shutdown = CancellationToken::new();
    tokio::spawn(cic_bridge::shutdown::on_signal(shutdown.clone()));
    cic_bridge::emulator::run(args, shutdown).await
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    if args.dev {
        let mut d = dev::prepare(&args.data_dir, args.listen)?;
        if args.shadow {
            d.config.tenants[0].mode = cic_bridge::config::TenantMode::Shadow;
        }
        telemetry::init(d.config.log.format, &d.config.log.level);
        tokio::spawn(cic_bridge::shutdown::on_signal(shutdown.clone()));
        let emulator = dev::start_emulator(&mut d, args.emulator_listen, shutdown.clone()).await?;
        let listener = tokio::net::TcpListener::bind(d.config.server.listen)
            .await
            .with_context(|| format!("binding {}", d.config.server.listen))?;
        let store = app::open_store(&d.config).await?;
        // The emulator starts empty on every run: provision everything stored again.
        store
            .resync_tenant(dev::DEV_TENANT, time::OffsetDateTime::now_utc())
            .await
            .context("queueing the resync of the dev tenant")?;
        let engine = app::build_engine(
            &d.config,
            &d.secrets,
            store.clone(),
            cic_bridge::tencent::clock::system_clock(),
        )?;
        dev::print_banner(
            listener.local_addr()?,
            emulator,
            &args.data_dir,
            &d.token,
            &d.admin_token,
        );
        return app::run_with(d.config, d.secrets, store, engine, listener, shutdown).await;
    }
    let path = args.config.context("--config is required without --dev")?;
    let config = Config::load(&path)?;
    let secrets = Secrets::from_env(&config)?;
    telemetry::init(config.log.format, &config.log.level);
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    tokio::spawn(cic_bridge::shutdown::on_signal(shutdown.clone()));
    let store = app::open_store(&config).await?;
    let engine = app::build_engine(
        &config,
        &secrets,
        store.clone(),
        cic_bridge::tencent::clock::system_clock(),
    )?;
    tokio::spawn(app::reload_rules_on_sighup(path, engine.clone(), shutdown.clone()));
    app::run_with(config, secrets, store, engine, listener, shutdown).await
}

/// `cic-bridge status`: the daemon's own `/admin/status` (live facts such as reachability and
/// throttling exist only in the running process), summarised for a terminal.
async fn status(config: Option<std::path::PathBuf>, url: Option<String>, json: bool) -> anyhow::Result<()> {
    let base = match (url, config) {
        (Some(u), _) => u.trim_end_matches('/').to_string(),
        (None, Some(path)) => {
            let config = Config::load(&path)?;
            let mut addr = config.server.admin_listen.unwrap_or(config.server.listen);
            // A daemon listening on every address is reached on loopback from the same host.
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}")
        }
        (None, None) => anyhow::bail!("give --config or --url"),
    };
    let token = std::env::var("CIC_BRIDGE_ADMIN_TOKEN").context("CIC_BRIDGE_ADMIN_TOKEN is not set")?;
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?
        .get(format!("{base}/admin/status"))
        .bearer_auth(token.trim())
        .send()
        .await
        .with_context(|| format!("asking {base}/admin/status"))?;
    let code = resp.status();
    let body: serde_json::Value = resp.json().await.context("reading the status")?;
    if !code.is_success() {
        anyhow::bail!(
            "{base}/admin/status answered {code}: {}",
            body["error"].as_str().unwrap_or_default()
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let s = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_string(),
        other => other.to_string(),
    };
    println!(
        "cic-bridge {} up {}s{}",
        s(&body["version"]),
        s(&body["uptimeSecs"]),
        if body["engineLeader"] == serde_json::Value::Bool(true) {
            ", engine leader"
        } else {
            ""
        }
    );
    let ic = &body["identityCenter"];
    println!(
        "Identity Center {}: reachable {}, last success {}, calls {}, errors {}, throttled {}",
        s(&ic["endpoint"]),
        s(&ic["reachable"]),
        s(&ic["lastSuccessAt"]),
        s(&ic["calls"]),
        s(&ic["errors"]),
        s(&ic["throttled"]["requestLimitExceeded"])
    );
    if !ic["lastError"].is_null() {
        let e = &ic["lastError"];
        println!(
            "  last error {} {}: {} {} (RequestId {})",
            s(&e["at"]),
            s(&e["action"]),
            s(&e["code"]),
            s(&e["message"]),
            s(&e["requestId"])
        );
    }
    println!(
        "{:<12} {:<8} {:>7} {:>7} {:>7}  queue",
        "tenant", "mode", "users", "groups", "members"
    );
    for t in body["tenants"].as_array().into_iter().flatten() {
        let queue: Vec<String> = t["queueTotals"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, n)| n.as_i64().unwrap_or(0) > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        println!(
            "{:<12} {:<8} {:>7} {:>7} {:>7}  {}{}",
            s(&t["name"]),
            s(&t["mode"]),
            s(&t["users"]),
            s(&t["groups"]),
            s(&t["memberships"]),
            if queue.is_empty() {
                "empty".to_string()
            } else {
                queue.join(", ")
            },
            t["oldestDueAgeSecs"]
                .as_f64()
                .map(|a| format!(" (oldest due {a:.0}s)"))
                .unwrap_or_default()
        );
    }
    for a in body["alarms"].as_array().into_iter().flatten() {
        println!("ALARM {} {}: {}", s(&a["tenant"]), s(&a["code"]), s(&a["message"]));
    }
    let failures = body["failures"].as_array().map(Vec::len).unwrap_or(0);
    println!(
        "tasks in progress: {}, failed operations: {failures} (cic-bridge jobs list --state failed)",
        body["tasksInProgress"].as_array().map(Vec::len).unwrap_or(0)
    );
    Ok(())
}
