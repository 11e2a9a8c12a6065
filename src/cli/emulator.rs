//! `cic-bridge emulator`: the Identity Center emulator as a process of its own.

use tokio_util::sync::CancellationToken;

use crate::config::LogFormat;
use crate::emulator::EmulatorArgs;

pub async fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    crate::telemetry::init(LogFormat::Human, "info");
    let shutdown = CancellationToken::new();
    tokio::spawn(crate::shutdown::on_signal(shutdown.clone()));
    crate::emulator::run(args, shutdown).await
}
