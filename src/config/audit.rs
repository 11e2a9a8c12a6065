//! `[audit]`: how long the audit trail keeps its records.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Records older than this many days are pruned (hourly, by the engine leader); the
    /// chain stays verifiable (the last pruned hash is kept). 0 keeps everything.
    pub retain_days: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { retain_days: 400 }
    }
}
