//! [`RateLimitLayer`]: wraps a service in [`RateLimit`].

use std::sync::Arc;

use tokio::sync::Semaphore;
use tower::Layer;

use super::{RateLimit, RateLimitConfig};

/// Limits the requests in flight of a service; every service it wraps shares the limits.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    config: RateLimitConfig,
    mutating: Arc<Semaphore>,
    read_only: Arc<Semaphore>,
}

impl RateLimitLayer {
    /// A layer with these limits.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            mutating: Arc::new(Semaphore::new(config.max_mutating_in_flight)),
            read_only: Arc::new(Semaphore::new(config.max_read_only_in_flight)),
            config,
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            mutating: self.mutating.clone(),
            read_only: self.read_only.clone(),
            retry_after_seconds: self.config.retry_after_seconds,
        }
    }
}
