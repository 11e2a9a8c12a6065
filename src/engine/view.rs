//! What the HTTP side (the provisioning layer, the admin API, the status page, `/metrics` and
//! `/readyz`) reads of the engine: methods rather than fields, so that how the engine keeps
//! its tenants, client and settings stays its own business.

use reqwest::Url;

use super::Engine;
use crate::store::{OpKind, StoreError};
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

/// What an operator asks of the engine through the admin API: each puts operations back in
/// the queue (on the engine's clock) and wakes the workers.
impl Engine {
    /// Puts one failed, parked or held operation back in the queue; how many were (0 or 1).
    pub async fn retry_operation(&self, id: i64) -> Result<u64, StoreError> {
        let n = self
            .store
            .retry_ops(Some(id), None, &["failed", "parked", "held"], self.now())
            .await?;
        self.notify();
        Ok(n)
    }

    /// Puts the parked operations (of `tenant`, or of all) back in the queue.
    pub async fn retry_parked(&self, tenant: Option<&str>) -> Result<u64, StoreError> {
        let n = self.store.retry_ops(None, tenant, &["parked"], self.now()).await?;
        self.notify();
        Ok(n)
    }

    /// Releases the operations the destructive-change fuse holds (of `tenant`, or of all) and
    /// clears the fuse alarm.
    pub async fn release_held(&self, tenant: Option<&str>) -> Result<u64, StoreError> {
        let now = self.now();
        let n = self.store.retry_ops(None, tenant, &["held"], now).await?;
        let tenants: Vec<String> = match tenant {
            Some(t) => vec![t.to_owned()],
            None => self.tenant_names().into_iter().map(str::to_owned).collect(),
        };
        for t in tenants {
            self.store.clear_alarm(&t, "fuse", now).await?;
        }
        self.notify();
        Ok(n)
    }

    /// Queues ProvisionRoleConfiguration of `role_configuration_id` on `target` (an account,
    /// or `*` for every member account); the operation's id.
    pub async fn queue_deployment(
        &self,
        tenant: &str,
        role_configuration_id: &str,
        target: &str,
    ) -> Result<i64, StoreError> {
        let id = self
            .store
            .enqueue_op(tenant, OpKind::Deploy, role_configuration_id, Some(target), self.now())
            .await?;
        self.notify();
        Ok(id)
    }

    /// The zones of the live tenants, each once, sorted.
    pub fn live_zones(&self) -> Vec<&str> {
        let mut zones: Vec<&str> = self.live_policies().map(|t| t.zone_id.as_str()).collect();
        zones.sort_unstable();
        zones.dedup();
        zones
    }

    /// A zone's usage against its quotas, as Identity Center reports it.
    pub async fn zone_statistics(
        &self,
        zone: &str,
    ) -> Result<crate::tencent::model::GetZoneStatisticsResponse, crate::tencent::CicError> {
        self.client
            .call(&crate::tencent::model::GetZoneStatistics {
                zone_id: zone.to_owned(),
            })
            .await
    }
}
