//! What the HTTP side (the provisioning layer, the admin API, the status page, `/metrics` and
//! `/readyz`) reads of the engine: methods rather than fields, so that how the engine keeps
//! its tenants, client and settings stays its own business.

use reqwest::Url;

use super::Engine;
use crate::tencent::client::CallStats;

impl Engine {
    /// The configured tenants' names, sorted (listings and alarm sweeps are then stable).
    pub fn tenant_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tenants.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// How often a parked operation is tried again (`engine.park_recheck_secs`).
    pub fn park_recheck_secs(&self) -> u64 {
        self.config.park_recheck_secs
    }

    /// The Identity Center client's call counters and last outcomes, for the status.
    pub fn identity_center_stats(&self) -> &CallStats {
        self.client.stats()
    }

    /// Where Identity Center is called (the real API or an emulator).
    pub fn identity_center_endpoint(&self) -> &Url {
        self.client.endpoint()
    }
}
