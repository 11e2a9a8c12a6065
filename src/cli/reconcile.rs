//! `cic-bridge reconcile`: the plan of differences between the store and Identity Center,
//! queued as fixes with --apply.

use std::path::PathBuf;

pub async fn run(config: PathBuf, tenant: Option<String>, apply: bool, json: bool) -> anyhow::Result<()> {
    let (store, engine) = super::cli_engine(&config).await?;
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
