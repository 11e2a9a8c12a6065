//! `cic-bridge token new`: a fresh SCIM token and the environment line that installs it.

use std::path::PathBuf;

use crate::config::Config;

pub fn new(tenant: String, config: Option<PathBuf>) -> anyhow::Result<()> {
    let config = config.map(|p| Config::load(&p)).transpose()?;
    let env = crate::check::token_env_name(&tenant, config.as_ref()).map_err(anyhow::Error::msg)?;
    let token = crate::check::new_token().map_err(anyhow::Error::msg)?;
    println!("A new SCIM token for tenant {tenant}. It is shown only this once: give it to the IdP");
    println!("(Okta: Authorization header \"Bearer <token>\"; Entra ID: Secret Token) and put this line");
    println!("in the daemon's environment (e.g. its systemd EnvironmentFile), then restart the daemon:");
    println!();
    println!("{env}={token}");
    Ok(())
}
