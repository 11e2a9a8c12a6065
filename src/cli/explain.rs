//! `cic-bridge explain`: why a user has which roles, or who has which roles on an account.

use std::path::PathBuf;

use crate::engine::explain::{render_account, render_user};

pub async fn run(
    config: PathBuf,
    user: Option<String>,
    account: Option<u64>,
    tenant: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let (store, engine) = super::cli_engine(&config).await?;
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
