//! What the status page shows beyond the database: the queue depth over the last hour (sampled
//! into a ring buffer, since the outbox keeps no history of its own) and each live zone's
//! usage from GetZoneStatistics. One background loop keeps both fresh.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::store::{QueueCount, Store};
use crate::tencent::model::ZoneStatistics;

/// The chart covers this much.
pub const HISTORY: Duration = Duration::from_secs(3600);
/// Zone statistics are asked for this often (each answer costs a call of the 20/s budget that
/// GetZoneStatistics shares with nobody, but there is no reason to spend more), and at every
/// sample while a quota alarm is raised.
const ZONE_REFRESH: Duration = Duration::from_secs(60);

/// Queue depth at one moment, summed over tenants and kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sample {
    pub at: i64,
    /// Due, scheduled (retry or deferral not yet due) and waiting on a task.
    pub queued: i64,
    pub running: i64,
    /// Parked, held and failed: what needs an admin.
    pub stuck: i64,
}

impl Sample {
    pub fn from_counts(at: OffsetDateTime, counts: &[QueueCount]) -> Sample {
        let mut s = Sample {
            at: at.unix_timestamp(),
            ..Default::default()
        };
        for c in counts {
            match c.bucket.as_str() {
                "due" | "scheduled" | "waiting" => s.queued += c.count,
                "running" => s.running += c.count,
                "parked" | "held" | "failed" => s.stuck += c.count,
                _ => {}
            }
        }
        s
    }
}

/// A zone's usage as GetZoneStatistics last reported it.
#[derive(Debug, Clone)]
pub struct ZoneUsage {
    pub at: OffsetDateTime,
    pub stats: ZoneStatistics,
}

pub struct Monitor {
    pub started: Instant,
    pub interval: Duration,
    history: Mutex<VecDeque<Sample>>,
    zones: Mutex<HashMap<String, ZoneUsage>>,
}

impl Monitor {
    pub fn new(interval: Duration) -> Monitor {
        Monitor {
            started: Instant::now(),
            interval: interval.max(Duration::from_millis(100)),
            history: Mutex::new(VecDeque::new()),
            zones: Mutex::new(HashMap::new()),
        }
    }

    fn capacity(&self) -> usize {
        (HISTORY.as_millis() / self.interval.as_millis()).max(1) as usize + 1
    }

    pub fn push(&self, sample: Sample) {
        let cap = self.capacity();
        let mut h = lock(&self.history);
        h.push_back(sample);
        while h.len() > cap {
            h.pop_front();
        }
    }

    /// Samples of the last hour, oldest first.
    pub fn history(&self) -> Vec<Sample> {
        lock(&self.history).iter().copied().collect()
    }

    /// Zone usage by zone id.
    pub fn zones(&self) -> BTreeMap<String, ZoneUsage> {
        lock(&self.zones).iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Samples the queue every `interval` and refreshes zone statistics, until `shutdown`.
    pub async fn run(self: Arc<Self>, store: Store, engine: Arc<Engine>, shutdown: CancellationToken) {
        let mut last_zones: Option<Instant> = None;
        loop {
            let now = engine.now();
            match store.queue_overview(now).await {
                Ok(counts) => self.push(Sample::from_counts(now, &counts)),
                Err(e) => tracing::warn!(error = %e, "sampling the queue failed"),
            }
            crate::prometheus::upkeep();
            // While a quota alarm is raised the operator watches the zone's usage move (users
            // freed, quota raised): refresh it at every sample then, not once a minute.
            let quota_alarm = store
                .alarms()
                .await
                .is_ok_and(|a| a.iter().any(|a| a.code.starts_with("quota:")));
            if quota_alarm || last_zones.is_none_or(|t| t.elapsed() >= ZONE_REFRESH) {
                last_zones = Some(Instant::now());
                self.refresh_zones(&engine).await;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    async fn refresh_zones(&self, engine: &Engine) {
        for zone in engine.live_zones() {
            let answer = engine.zone_statistics(zone).await;
            match answer {
                Ok(r) => {
                    if let Some(stats) = r.zone_statistics {
                        lock(&self.zones).insert(
                            zone.to_owned(),
                            ZoneUsage {
                                at: engine.now(),
                                stats,
                            },
                        );
                    }
                }
                // The status page shows the last error under reachability; keep the old usage.
                Err(e) => tracing::warn!(zone, error = %e, "GetZoneStatistics failed"),
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_one_hour_of_samples() {
        let m = Monitor::new(Duration::from_secs(15));
        for i in 0..1000 {
            m.push(Sample {
                at: i,
                ..Default::default()
            });
        }
        let h = m.history();
        assert_eq!(h.len(), 241);
        assert_eq!(h.last().map(|s| s.at), Some(999));
    }
}
