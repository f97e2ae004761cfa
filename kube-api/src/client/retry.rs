//! When and how long the client waits before it sends a request again.
//!
//! A request is retried when the server answers 429 Too Many Requests (any method: the
//! server refused it before doing anything), and, for idempotent methods only (`GET`,
//! `HEAD`, `OPTIONS`), when it answers a 5xx or the connection fails. The delay grows
//! exponentially from [`RetryPolicy::base_delay`] up to [`RetryPolicy::max_delay`], with
//! "equal jitter" (half the delay fixed, half random) so that many clients retrying at once
//! spread out; a `Retry-After` header from the server sets the smallest delay.

use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use rand::Rng as _;

/// How many times, and how far apart, the client retries a failed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retries.
    pub max_retries: u32,
    /// The delay before the first retry, doubled on each further one.
    pub base_delay: Duration,
    /// The longest delay between two attempts, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// True when a response with this status to a request with this method may be retried.
    pub fn should_retry_status(&self, method: &Method, status: StatusCode) -> bool {
        status == StatusCode::TOO_MANY_REQUESTS
            || (status.is_server_error() && is_idempotent(method))
    }

    /// True when a request with this method may be retried after a transport failure.
    pub fn should_retry_transport(&self, method: &Method) -> bool {
        is_idempotent(method)
    }

    /// The delay before retry number `attempt` (0 for the first retry), with jitter, at
    /// least what `Retry-After` asks (capped at [`RetryPolicy::max_delay`]).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(31)))
            .min(self.max_delay);
        let half = exp / 2;
        let jitter = if half.is_zero() {
            Duration::ZERO
        } else {
            let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(rand::rng().random_range(0..=nanos))
        };
        let backoff = half + jitter;
        match retry_after {
            Some(after) => backoff.max(after).min(self.max_delay),
            None => backoff,
        }
    }
}

/// The `Retry-After` header as a delay, when it holds a number of seconds.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_within_bounds() {
        let policy = RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        for attempt in 0..10 {
            let full = Duration::from_millis(100)
                .saturating_mul(2u32.pow(attempt))
                .min(Duration::from_secs(2));
            for _ in 0..50 {
                let d = policy.delay(attempt, None);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
    }

    #[test]
    fn retry_after_sets_the_floor_but_not_past_the_cap() {
        let policy = RetryPolicy::default();
        let d = policy.delay(0, Some(Duration::from_secs(3)));
        assert_eq!(d, Duration::from_secs(3));
        let d = policy.delay(0, Some(Duration::from_secs(3600)));
        assert_eq!(d, policy.max_delay);
    }

    #[test]
    fn which_answers_are_retried() {
        let p = RetryPolicy::default();
        let cases = [
            (Method::GET, 429, true),
            (Method::POST, 429, true),
            (Method::GET, 503, true),
            (Method::GET, 500, true),
            (Method::POST, 503, false),
            (Method::PATCH, 500, false),
            (Method::GET, 404, false),
            (Method::GET, 409, false),
        ];
        for (method, code, want) in cases {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(
                p.should_retry_status(&method, status),
                want,
                "{method} {code}"
            );
        }
        assert!(p.should_retry_transport(&Method::GET));
        assert!(!p.should_retry_transport(&Method::POST));
    }

    #[test]
    fn retry_after_header_parses_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
