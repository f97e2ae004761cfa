//! [`RateLimiter`]: how long a key that failed waits before its next try.
//!
//! client-go's default controller rate limiter, the slower of two:
//!
//! - per key, exponential: `base * 2^failures`, capped at `max` (5 ms doubling to 1000 s);
//! - overall, a token bucket: `qps` tokens a second, `burst` at most (10 and 100), so that
//!   a storm of failing keys cannot hammer the API server.
//!
//! [`RateLimiter::forget`] resets a key's failures once it succeeds.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// The settings of a [`RateLimiter`]; the defaults are client-go's.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimiterConfig {
    /// The delay after a key's first failure.
    pub base_delay: Duration,
    /// The longest per-key delay.
    pub max_delay: Duration,
    /// Retries per second allowed over all keys, on average.
    pub qps: f64,
    /// Retries allowed at once over all keys.
    pub burst: u32,
}

impl Default for RateLimiterConfig {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(1000),
            qps: 10.0,
            burst: 100,
        }
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Per-key exponential backoff combined with an overall token bucket; the slower wins.
pub struct RateLimiter<T> {
    config: RateLimiterConfig,
    failures: Mutex<HashMap<T, u32>>,
    bucket: Mutex<Bucket>,
}

impl<T> std::fmt::Debug for RateLimiter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("config", &self.config)
            .field("keys", &self.failures.lock().len())
            .finish()
    }
}

impl<T: Clone + Eq + Hash> RateLimiter<T> {
    /// A rate limiter with these settings.
    pub fn new(config: RateLimiterConfig) -> Self {
        let burst = f64::from(config.burst);
        Self {
            config,
            failures: Mutex::new(HashMap::new()),
            bucket: Mutex::new(Bucket {
                tokens: burst,
                last: Instant::now(),
            }),
        }
    }

    /// Records a failure of `key` and returns how long it waits before its next try.
    pub fn when(&self, key: &T) -> Duration {
        self.when_at(key, Instant::now())
    }

    pub(crate) fn when_at(&self, key: &T, now: Instant) -> Duration {
        let failures = {
            let mut map = self.failures.lock();
            let n = map.entry(key.clone()).or_insert(0);
            let current = *n;
            *n = n.saturating_add(1);
            current
        };
        self.backoff(failures).max(self.reserve(now))
    }

    /// The per-key delay after `failures` earlier failures.
    fn backoff(&self, failures: u32) -> Duration {
        let factor = 2f64.powi(i32::try_from(failures.min(64)).unwrap_or(64));
        let secs = self.config.base_delay.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= self.config.max_delay.as_secs_f64() {
            self.config.max_delay
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// Takes a token from the bucket; the delay until that token exists.
    fn reserve(&self, now: Instant) -> Duration {
        if self.config.qps <= 0.0 || !self.config.qps.is_finite() {
            return Duration::ZERO;
        }
        let mut bucket = self.bucket.lock();
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.last = bucket.last.max(now);
        bucket.tokens =
            (bucket.tokens + elapsed * self.config.qps).min(f64::from(self.config.burst));
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.tokens / self.config.qps)
        }
    }

    /// Forgets the failures of `key` (it succeeded, or was dropped).
    pub fn forget(&self, key: &T) {
        self.failures.lock().remove(key);
    }

    /// How many times in a row `key` has failed.
    pub fn failures(&self, key: &T) -> u32 {
        self.failures.lock().get(key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn limiter(qps: f64, burst: u32) -> RateLimiter<&'static str> {
        RateLimiter::new(RateLimiterConfig {
            qps,
            burst,
            ..RateLimiterConfig::default()
        })
    }

    #[test]
    fn per_key_backoff_doubles_from_5ms_to_1000s() {
        let rl = limiter(0.0, 0);
        let now = Instant::now();
        let delays: Vec<Duration> = (0..5).map(|_| rl.when_at(&"a", now)).collect();
        assert_eq!(
            delays,
            [5, 10, 20, 40, 80].map(Duration::from_millis).to_vec()
        );
        // Another key starts over; forgetting resets.
        assert_eq!(rl.when_at(&"b", now), Duration::from_millis(5));
        rl.forget(&"a");
        assert_eq!(rl.failures(&"a"), 0);
        assert_eq!(rl.when_at(&"a", now), Duration::from_millis(5));
        for _ in 0..100 {
            rl.when_at(&"c", now);
        }
        assert_eq!(rl.when_at(&"c", now), Duration::from_secs(1000));
    }

    #[test]
    fn the_bucket_allows_a_burst_then_qps() {
        let rl: RateLimiter<u32> = RateLimiter::new(RateLimiterConfig::default());
        let now = Instant::now();
        // 100 distinct keys fail at once: the burst covers them, each waits its 5 ms.
        for k in 0..100 {
            assert_eq!(rl.when_at(&k, now), Duration::from_millis(5));
        }
        // The 101st waits for a token: 1/10 s; the 102nd 2/10 s.
        assert_eq!(rl.when_at(&100, now), Duration::from_millis(100));
        assert_eq!(rl.when_at(&101, now), Duration::from_millis(200));
        // Tokens come back with time.
        let later = now + Duration::from_secs(60);
        assert_eq!(rl.when_at(&102, later), Duration::from_millis(5));
    }

    proptest! {
        /// The delay is the slower of the per-key backoff and the bucket, never below the
        /// per-key backoff, never above the per-key cap plus the time the bucket needs for
        /// every request made so far.
        #[test]
        fn delay_is_the_slower_of_both(keys in proptest::collection::vec(0u8..6, 1..200)) {
            let rl: RateLimiter<u8> = RateLimiter::new(RateLimiterConfig {
                qps: 10.0, burst: 5, ..RateLimiterConfig::default()
            });
            let now = Instant::now();
            let mut failures: HashMap<u8, u32> = HashMap::new();
            for (i, k) in keys.iter().enumerate() {
                let n = failures.entry(*k).or_insert(0);
                let expected_backoff = Duration::from_secs_f64(
                    (0.005 * 2f64.powi(i32::try_from(*n).unwrap())).min(1000.0));
                *n += 1;
                let d = rl.when_at(k, now);
                prop_assert!(d >= expected_backoff.min(Duration::from_secs(1000)) - Duration::from_micros(1));
                let bucket_wait = (i as f64 + 1.0 - 5.0).max(0.0) / 10.0;
                let expected = expected_backoff.as_secs_f64().max(bucket_wait);
                prop_assert!((d.as_secs_f64() - expected).abs() < 1e-6, "{d:?} vs {expected}");
            }
        }
    }
}
