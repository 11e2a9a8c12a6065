//! Whether the store can commit writes right now, learnt from the writes themselves.
//!
//! A write that fails because the database cannot commit (disk full, file read-only, a lock
//! held elsewhere past the busy timeout, PostgreSQL down or restarting, the connection cut)
//! marks the store unavailable; the next write that commits marks it available again. While
//! it is unavailable, a probe (a one-row write, see `Store::probe_write`) runs every second, so
//! the daemon notices recovery without waiting for a client's write, and readiness, the
//! status page and the engine follow. SCIM writes are still attempted while the store is
//! unavailable (each one fails fast and is answered 503): whichever write succeeds first ends
//! the outage.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;
use tokio::sync::watch;

/// An outage in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    /// When the first failed write of this outage happened.
    pub since: OffsetDateTime,
    /// A short reason a person can act on ("the disk is full"), never a secret.
    pub reason: String,
}

#[derive(Debug)]
pub struct StoreHealth {
    outage: Mutex<Option<Outage>>,
    /// `true` while writes commit; subscribers (the engine) wake on every change.
    writable: watch::Sender<bool>,
    refused: AtomicU64,
}

impl Default for StoreHealth {
    fn default() -> Self {
        StoreHealth {
            outage: Mutex::new(None),
            writable: watch::Sender::new(true),
            refused: AtomicU64::new(0),
        }
    }
}

impl StoreHealth {
    pub fn writable(&self) -> bool {
        *self.writable.borrow()
    }

    /// A receiver that sees every change of [`writable`](Self::writable).
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.writable.subscribe()
    }

    pub fn outage(&self) -> Option<Outage> {
        self.lock().clone()
    }

    /// SCIM writes refused since start-up because the store could not commit.
    pub fn refused_writes(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    pub fn count_refused_write(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// A write could not commit for `reason`.
    pub fn failed(&self, reason: &str) {
        let mut outage = self.lock();
        match outage.as_mut() {
            Some(o) => o.reason = reason.to_owned(),
            None => {
                tracing::error!(
                    reason,
                    "the store cannot commit writes: SCIM writes answer 503 until it recovers"
                );
                *outage = Some(Outage {
                    since: OffsetDateTime::now_utc(),
                    reason: reason.to_owned(),
                });
                self.writable.send_replace(false);
            }
        }
    }

    /// A write committed.
    pub fn committed(&self) {
        // Cheap on the hot path: the lock is taken only during an outage.
        if self.writable() {
            return;
        }
        let mut outage = self.lock();
        if let Some(o) = outage.take() {
            let secs = (OffsetDateTime::now_utc() - o.since).whole_seconds();
            tracing::warn!(outage_secs = secs, "the store commits writes again");
            self.writable.send_replace(true);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Outage>> {
        self.outage.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_starts_at_the_first_failure_and_ends_at_the_next_commit() {
        let h = StoreHealth::default();
        let mut rx = h.subscribe();
        assert!(h.writable());
        h.failed("the disk is full");
        let first = h.outage().map(|o| o.since);
        h.failed("the disk is full");
        assert_eq!(
            h.outage().map(|o| o.since),
            first,
            "a second failure does not restart the outage"
        );
        assert!(!h.writable());
        assert!(rx.has_changed().unwrap_or(false));
        assert!(!*rx.borrow_and_update());
        h.committed();
        assert!(h.writable());
        assert_eq!(h.outage(), None);
        assert!(*rx.borrow_and_update());
    }
}
