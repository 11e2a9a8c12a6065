//! `cic-bridge organization refresh|show`: the organization snapshot through a running
//! daemon's admin API (the refresh calls Identity Center with the daemon's credentials).

use super::OrganizationCommand;
use super::admin::AdminClient;

pub async fn run(cmd: OrganizationCommand) -> anyhow::Result<()> {
    match cmd {
        OrganizationCommand::Refresh { config, url } => {
            let body = AdminClient::new(config.as_deref(), url)?
                .post("/admin/organization/refresh")
                .await?;
            let n = |k: &str| body[k].as_u64().unwrap_or(0);
            match body["outcome"].as_str().unwrap_or_default() {
                "unchanged" => println!("organization unchanged"),
                "applied" => println!(
                    "organization changed: {} assignment(s) to add, {} to remove; {} assignment sync(s) queued",
                    n("assignmentsAdded"),
                    n("assignmentsRemoved"),
                    n("queued")
                ),
                "held" => println!(
                    "held by the destructive-change fuse: {} assignment(s) would be removed, more than {}; release with `cic-bridge jobs retry --held` or POST /admin/jobs/release-held",
                    n("assignmentsRemoved"),
                    n("limit")
                ),
                _ => println!("{}", serde_json::to_string_pretty(&body)?),
            }
        }
        OrganizationCommand::Show { config, url } => {
            let body = AdminClient::new(config.as_deref(), url)?.status().await?;
            println!("{}", super::status::organization_line(&body["organization"]));
        }
    }
    Ok(())
}
