//! `cic-bridge`: parse the command line, start the async runtime, run the subcommand (its body
//! is in `cic_bridge::cli`), and turn its result into the exit status.

use std::process::ExitCode;

/// mimalloc instead of glibc malloc: a SCIM request allocates a few hundred small JSON nodes,
/// often freed on another thread than the one that allocated them; profiling put glibc's
/// malloc/free at about a fifth of a filter lookup's instructions.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

use cic_bridge::cli::{self, Cli, Command, TokenCommand};

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
            Command::Serve(args) => cli::serve::run(args).await,
            Command::Emulator(args) => cli::emulator::run(args).await,
            Command::Jobs(cmd) => cli::as_operator("jobs", cli::jobs::run(cmd)).await,
            Command::Organization(cmd) => cli::organization::run(cmd).await,
            Command::Status { config, url, json } => cli::status::run(config, url, json).await,
            Command::Provision(args) => cli::as_operator("provision", cli::provision::run(args)).await,
            Command::Reconcile {
                config,
                tenant,
                apply,
                json,
            } => cli::as_operator("reconcile", cli::reconcile::run(config, tenant, apply, json)).await,
            Command::Explain {
                config,
                user,
                account,
                tenant,
                json,
            } => cli::explain::run(config, user, account, tenant, json).await,
            Command::CheckConfig { config, online } => cli::check_config::run(&config, online).await,
            Command::Token(TokenCommand::New { tenant, config }) => cli::token::new(tenant, config),
            Command::Audit(args) => cli::audit::run(args).await,
            Command::Tasks {
                config,
                tenant,
                status,
                limit,
            } => cli::tasks::run(config, tenant, status, limit).await,
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
