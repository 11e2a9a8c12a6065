//! Retry schedule: exponential backoff with full jitter, as a pure function of the attempt
//! number and a random draw, so the next attempt time can be stored in the operation's row
//! and tested without sleeping.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// Upper bound of the delay after `attempt` (1 = the first attempt failed):
    /// `min(cap, base * 2^(attempt-1))`.
    pub fn ceiling(&self, attempt: i64) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.base.saturating_mul(1u32 << exp).min(self.cap)
    }

    /// Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): a uniform draw in
    /// `[0, ceiling]`, with `draw` in `[0, 1)`. Spreads retries of many operations that failed
    /// together (a throttling burst) instead of sending them back in lockstep. At least 10 ms.
    pub fn delay(&self, attempt: i64, draw: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        ceiling.mul_f64(draw.clamp(0.0, 1.0)).max(Duration::from_millis(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const B: Backoff = Backoff {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(300),
    };

    #[test]
    fn ceiling_doubles_then_caps() {
        let c: Vec<u64> = (1..=11).map(|a| B.ceiling(a).as_secs()).collect();
        assert_eq!(c, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(B.ceiling(1_000_000), Duration::from_secs(300));
        assert_eq!(B.ceiling(0), Duration::from_secs(1));
    }

    #[test]
    fn jitter_spans_zero_to_ceiling() {
        assert_eq!(B.delay(4, 0.0), Duration::from_millis(10));
        assert_eq!(B.delay(4, 0.5), Duration::from_secs(4));
        assert!(B.delay(4, 0.999_999) < Duration::from_secs(8));
    }

    proptest! {
        #[test]
        fn delay_never_exceeds_the_ceiling(attempt in 0i64..100, draw in 0.0f64..1.0) {
            let d = B.delay(attempt, draw);
            prop_assert!(d <= B.ceiling(attempt).max(Duration::from_millis(10)));
            prop_assert!(d >= Duration::from_millis(10));
        }
    }
}
