//! Per-client token bucket. Integer arithmetic in thousandths of a token (no floats near
//! anything countable); the clock is passed in so tests are exact.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateSettings;

/// One token in the bucket's internal unit.
const TOKEN_MILLI: u64 = 1_000;
const NANOS_PER_SECOND: u128 = 1_000_000_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens_milli: u64,
    last: Instant,
}

/// Token buckets keyed by client name. Keys come from the configured clients only, so the
/// map cannot grow beyond the configuration.
#[derive(Debug)]
pub struct RateLimiter {
    settings: RateSettings,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(settings: RateSettings) -> Self {
        RateLimiter {
            settings,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one token for `client` at `now`. `Err(wait)` says when one will be there (for
    /// `Retry-After`).
    pub fn check(&self, client: &str, now: Instant) -> Result<(), Duration> {
        let capacity_milli = u64::from(self.settings.burst) * TOKEN_MILLI;
        let rate_milli_per_second = u64::from(self.settings.per_second) * TOKEN_MILLI;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(client.to_owned()).or_insert(Bucket {
            tokens_milli: capacity_milli,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last);
        let refill = elapsed.as_nanos() * u128::from(rate_milli_per_second) / NANOS_PER_SECOND;
        // Advance `last` only by the time actually converted into tokens, so fractions of a
        // thousandth are not lost when requests come faster than that.
        if refill > 0 {
            let used_nanos = refill * NANOS_PER_SECOND / u128::from(rate_milli_per_second);
            bucket.last += Duration::from_nanos(u64::try_from(used_nanos).unwrap_or(u64::MAX));
            bucket.tokens_milli = u64::try_from(u128::from(bucket.tokens_milli) + refill)
                .unwrap_or(u64::MAX)
                .min(capacity_milli);
        }
        if bucket.tokens_milli >= capacity_milli {
            // A full bucket does not bank time.
            bucket.last = now;
        }
        if bucket.tokens_milli >= TOKEN_MILLI {
            bucket.tokens_milli -= TOKEN_MILLI;
            Ok(())
        } else {
            let missing_milli = TOKEN_MILLI - bucket.tokens_milli;
            let nanos =
                u128::from(missing_milli) * NANOS_PER_SECOND / u128::from(rate_milli_per_second);
            Err(Duration::from_nanos(
                u64::try_from(nanos).unwrap_or(u64::MAX),
            ))
        }
    }
}

/// `Retry-After` wants whole seconds; round up so a client that obeys it succeeds.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let s = wait.as_secs();
    if wait.subsec_nanos() > 0 {
        s + 1
    } else {
        s.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_at_the_configured_rate() {
        let r = RateLimiter::new(RateSettings {
            per_second: 2,
            burst: 3,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(r.check("a", t0).is_ok());
        }
        let wait = r.check("a", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500), "one token per 500 ms");
        // other clients have their own bucket
        assert!(r.check("b", t0).is_ok());
        // 499 ms: not yet
        assert!(r.check("a", t0 + Duration::from_millis(499)).is_err());
        assert!(r.check("a", t0 + Duration::from_millis(500)).is_ok());
        assert!(r.check("a", t0 + Duration::from_millis(500)).is_err());
        // a long pause refills only up to the burst
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(r.check("a", later).is_ok());
        }
        assert!(r.check("a", later).is_err());
    }

    #[test]
    fn many_small_steps_add_up() {
        let r = RateLimiter::new(RateSettings {
            per_second: 1,
            burst: 1,
        });
        let t0 = Instant::now();
        assert!(r.check("a", t0).is_ok());
        // 1000 checks 0.9 ms apart = 0.9 s: still no token, not even by rounding
        let mut t = t0;
        for _ in 0..1000 {
            t += Duration::from_micros(900);
            assert!(r.check("a", t).is_err());
        }
        // at 1.0 s the token is there
        assert!(r.check("a", t0 + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
    }
}
