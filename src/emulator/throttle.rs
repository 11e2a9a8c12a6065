//! Token buckets per (SecretId, action), the scope Tencent Cloud throttles at.

use std::collections::HashMap;

use time::OffsetDateTime;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: OffsetDateTime,
}

#[derive(Debug, Default)]
pub struct Buckets {
    buckets: HashMap<(String, String), Bucket>,
}

impl Buckets {
    /// Takes one token from the bucket of (`secret_id`, `action`), which holds at most one
    /// second's worth (`rate`) and refills continuously. `rate == 0` means unlimited.
    pub fn try_take(&mut self, secret_id: &str, action: &str, rate: u32, now: OffsetDateTime) -> bool {
        if rate == 0 {
            return true;
        }
        let capacity = f64::from(rate);
        let bucket = self
            .buckets
            .entry((secret_id.to_owned(), action.to_owned()))
            .or_insert(Bucket {
                tokens: capacity,
                last: now,
            });
        let elapsed = (now - bucket.last).as_seconds_f64().max(0.0);
        bucket.tokens = (bucket.tokens + elapsed * capacity).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_rate_per_second_per_key() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let mut b = Buckets::default();
        let taken = (0..25).filter(|_| b.try_take("id", "CreateUser", 20, t0)).count();
        assert_eq!(taken, 20);
        assert!(b.try_take("id", "GetUser", 20, t0), "other action has its own bucket");
        assert!(
            b.try_take("other-id", "CreateUser", 20, t0),
            "other key has its own bucket"
        );
        assert!(!b.try_take("id", "CreateUser", 20, t0 + Duration::from_millis(10)));
        assert!(
            b.try_take("id", "CreateUser", 20, t0 + Duration::from_millis(60)),
            "refilled after 50 ms"
        );
        assert!((0..1000).all(|_| b.try_take("id", "X", 0, t0)), "0 = unlimited");
    }
}
