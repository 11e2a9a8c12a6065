//! `cic-bridge tasks`: the Identity Center tasks cic-bridge started, from the store.

use std::path::PathBuf;

use crate::app;
use crate::config::Config;

pub async fn run(config: PathBuf, tenant: Option<String>, status: Option<String>, limit: i64) -> anyhow::Result<()> {
    let config = Config::load(&config)?;
    let store = app::open_store(&config).await?;
    // A status no task can have matches none.
    let status = status.as_deref().map(crate::store::TaskStatus::parse);
    let rows = match status {
        Some(None) => Vec::new(),
        Some(Some(_)) | None => {
            store
                .tasks(tenant.as_deref(), None, None, status.flatten(), limit.clamp(1, 10_000))
                .await?
        }
    };
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
