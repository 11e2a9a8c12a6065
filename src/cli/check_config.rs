//! `cic-bridge check-config`: the problems of a configuration file, one `key: reason` a line.

use std::path::Path;

pub async fn run(config: &Path, online: bool) -> anyhow::Result<()> {
    let (problems, report) = crate::check::check_config_report(config, online, |k| std::env::var(k).ok()).await;
    if problems.is_empty() {
        for line in &report {
            println!("{line}");
        }
        println!("{}: ok", config.display());
        Ok(())
    } else {
        for p in &problems {
            println!("{p}");
        }
        Err(anyhow::anyhow!("{} problem(s) in {}", problems.len(), config.display()))
    }
}
