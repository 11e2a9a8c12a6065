//! `cic-bridge jobs`: list and retry provisioning operations in the database of --config.

use std::path::PathBuf;

use super::JobsCommand;
use crate::app;
use crate::config::Config;

pub async fn run(cmd: JobsCommand) -> anyhow::Result<()> {
    match cmd {
        JobsCommand::List {
            config,
            state,
            tenant,
            limit,
        } => list(config, state, tenant, limit).await,
        JobsCommand::Retry {
            config,
            id,
            failed,
            parked,
            held,
            tenant,
        } => retry(config, id, failed, parked, held, tenant).await,
    }
}

async fn list(config: PathBuf, state: Option<String>, tenant: Option<String>, limit: i64) -> anyhow::Result<()> {
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

async fn retry(
    config: PathBuf,
    id: Option<i64>,
    failed: bool,
    parked: bool,
    held: bool,
    tenant: Option<String>,
) -> anyhow::Result<()> {
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
    let now = time::OffsetDateTime::now_utc();
    let n = store.retry_ops(id, tenant.as_deref(), &states, now).await?;
    println!("{n} operation(s) queued again; a running daemon picks them up within a second");
    // The fuse may also hold an organization refresh (it belongs to no tenant).
    if held && tenant.is_none() {
        let tenants: Vec<String> = config
            .tenants
            .iter()
            .filter(|t| t.mode == crate::config::TenantMode::Live)
            .map(|t| t.name.clone())
            .collect();
        if let Some(queued) = crate::engine::organization::release_held(&store, &tenants, now).await? {
            println!("the held organization refresh is in force; {queued} assignment sync(s) queued");
        }
    }
    store.close().await;
    Ok(())
}
