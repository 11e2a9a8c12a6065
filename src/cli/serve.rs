//! `cic-bridge serve`: the daemon, from --config or in --dev mode.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::ServeArgs;
use crate::app::{self, Secrets};
use crate::config::{Config, TenantMode};
use crate::tencent::clock::system_clock;
use crate::{dev, telemetry};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    if args.dev {
        let mut d = dev::prepare(&args.data_dir, args.listen)?;
        if args.shadow {
            d.config.tenants[0].mode = TenantMode::Shadow;
        }
        telemetry::init(d.config.log.format, &d.config.log.level);
        tokio::spawn(crate::shutdown::on_signal(shutdown.clone()));
        if let Some(path) = &args.rules {
            dev::load_rules(&mut d, path)?;
        }
        let organization = dev::Organization {
            departments: args.department.clone(),
            member_tags: args.member_tag.clone(),
        };
        let emulator = dev::start_emulator(&mut d, args.emulator_listen, organization, shutdown.clone()).await?;
        let listener = tokio::net::TcpListener::bind(d.config.server.listen)
            .await
            .with_context(|| format!("binding {}", d.config.server.listen))?;
        let store = app::open_store(&d.config).await?;
        // The emulator starts empty on every run: provision everything stored again.
        store
            .resync_tenant(dev::DEV_TENANT, time::OffsetDateTime::now_utc())
            .await
            .context("queueing the resync of the dev tenant")?;
        let engine = app::build_engine(&d.config, &d.secrets, store.clone(), system_clock())?;
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
    tokio::spawn(crate::shutdown::on_signal(shutdown.clone()));
    let store = app::open_store(&config).await?;
    let engine = app::build_engine(&config, &secrets, store.clone(), system_clock())?;
    tokio::spawn(app::reload_rules_on_sighup(path, engine.clone(), shutdown.clone()));
    app::run_with(config, secrets, store, engine, listener, shutdown).await
}
