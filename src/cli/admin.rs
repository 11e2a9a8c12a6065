//! The client of a running daemon's admin API, for subcommands whose facts (reachability,
//! throttling) exist only in that process, not in its database.

use std::path::Path;

use anyhow::Context;

use crate::config::Config;

pub struct AdminClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// The daemon at `url`, or at the admin address of the configuration at `config`
    /// (server.admin_listen, else server.listen); the token from CIC_BRIDGE_ADMIN_TOKEN.
    pub fn new(config: Option<&Path>, url: Option<String>) -> anyhow::Result<Self> {
        let base = match (url, config) {
            (Some(u), _) => u.trim_end_matches('/').to_string(),
            (None, Some(path)) => {
                let config = Config::load(path)?;
                let mut addr = config.server.admin_listen.unwrap_or(config.server.listen);
                // A daemon listening on every address is reached on loopback from the same host.
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("http://{addr}")
            }
            (None, None) => anyhow::bail!("give --config or --url"),
        };
        let token = std::env::var("CIC_BRIDGE_ADMIN_TOKEN").context("CIC_BRIDGE_ADMIN_TOKEN is not set")?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self { base, token, http })
    }

    /// `GET /admin/status`; an answer other than 2xx is an error carrying the daemon's reason.
    pub async fn status(&self) -> anyhow::Result<serde_json::Value> {
        let base = &self.base;
        let resp = self
            .http
            .get(format!("{base}/admin/status"))
            .bearer_auth(self.token.trim())
            .send()
            .await
            .with_context(|| format!("asking {base}/admin/status"))?;
        let code = resp.status();
        let body: serde_json::Value = resp.json().await.context("reading the status")?;
        if !code.is_success() {
            anyhow::bail!(
                "{base}/admin/status answered {code}: {}",
                body["error"].as_str().unwrap_or_default()
            );
        }
        Ok(body)
    }

    /// `POST` to an admin route; an answer other than 2xx is an error carrying the daemon's
    /// reason.
    pub async fn post(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let base = &self.base;
        let resp = self
            .http
            .post(format!("{base}{path}"))
            .bearer_auth(self.token.trim())
            .send()
            .await
            .with_context(|| format!("asking {base}{path}"))?;
        let code = resp.status();
        let body: serde_json::Value = resp
            .json()
            .await
            .with_context(|| format!("reading the answer of {path}"))?;
        if !code.is_success() {
            anyhow::bail!(
                "{base}{path} answered {code}: {}",
                body["error"].as_str().unwrap_or_default()
            );
        }
        Ok(body)
    }
}
