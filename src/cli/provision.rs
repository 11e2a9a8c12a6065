//! `cic-bridge provision`: queue the deployment of a role configuration for a running daemon.

use super::ProvisionArgs;
use crate::app;
use crate::config::Config;

pub async fn run(args: ProvisionArgs) -> anyhow::Result<()> {
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
            crate::store::OpKind::Deploy,
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
