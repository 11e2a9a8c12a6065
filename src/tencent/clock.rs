//! Wall-clock time, injected so signing timestamps, skew checks and task delays can be tested
//! without sleeping.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that moves only when told to: either pinned, or the system clock plus an offset
/// (useful to simulate a client whose clock is skewed).
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<Mutex<ManualState>>,
}

#[derive(Debug, Clone, Copy)]
enum ManualState {
    Pinned(OffsetDateTime),
    Offset(time::Duration),
}

impl ManualClock {
    pub fn pinned(at: OffsetDateTime) -> Self {
        Self {
            state: Arc::new(Mutex::new(ManualState::Pinned(at))),
        }
    }

    /// The system clock shifted by `offset` (negative = behind).
    pub fn offset(offset: time::Duration) -> Self {
        Self {
            state: Arc::new(Mutex::new(ManualState::Offset(offset))),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *state = match *state {
            ManualState::Pinned(at) => ManualState::Pinned(at + by),
            ManualState::Offset(off) => ManualState::Offset(off + by),
        };
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        match *self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            ManualState::Pinned(at) => at,
            ManualState::Offset(off) => OffsetDateTime::now_utc() + off,
        }
    }
}

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;

pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let clock = ManualClock::pinned(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(5));
        assert_eq!(clock.now().unix_timestamp(), 1_700_000_005);
        let behind = ManualClock::offset(time::Duration::minutes(-10));
        let delta = OffsetDateTime::now_utc() - behind.now();
        assert!(
            (delta - time::Duration::minutes(10)).abs() < time::Duration::seconds(1),
            "{delta}"
        );
    }
}
