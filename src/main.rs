//! `cic-bridge`: parse the command line, load the configuration, start logging, run.

use std::process::ExitCode;

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

async fn emulator(args: cic_bridge::emulator::EmulatorArgs) -> anyhow::Result<()> {
    telemetry::init(cic_bridge::config::LogFormat::Human, "info");
    let shutdown = CancellationToken::new();
    tokio::spawn(cic_bridge::shutdown::on_signal(shutdown.clone()));
    cic_bridge::emulator::run(args, shutdown).await
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (config, secrets, banner) = if args.dev {
        let d = dev::prepare(&args.data_dir, args.listen)?;
        (d.config, d.secrets, Some(d.token))
    } else {
        let path = args.config.context("--config is required without --dev")?;
        let config = Config::load(&path)?;
        let secrets = Secrets::from_env(&config)?;
        (config, secrets, None)
    };
    telemetry::init(config.log.format, &config.log.level);
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    if let Some(token) = banner {
        dev::print_banner(listener.local_addr()?, &args.data_dir, &token);
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(cic_bridge::shutdown::on_signal(shutdown.clone()));
    app::run(config, secrets, listener, shutdown).await
}
