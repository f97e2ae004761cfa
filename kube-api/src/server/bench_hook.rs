//! Entry points for the crate's benchmarks (`benches/`): the watch cache without a store
//! behind it, fed events by hand. Not part of the API: hidden from the documentation and
//! free to change.

use kube_core::StoreEvent;

use super::watch_cache::WatchCache;

/// A watch cache of one resource prefix that follows no store: the benchmark applies the
/// store's events to it directly.
#[derive(Debug)]
pub struct WatchCacheBench {
    cache: WatchCache,
}

impl WatchCacheBench {
    /// An empty cache of `prefix` (such as `/registry/pods/`) keeping `history_len`
    /// events of history.
    pub fn new(prefix: &str, history_len: usize) -> Self {
        Self {
            cache: WatchCache::new(prefix, 1024, history_len),
        }
    }

    /// Applies one store event, as the cache's store watch would.
    pub fn apply(&self, event: &StoreEvent) {
        self.cache.apply(event);
    }

    /// How many objects the cache holds.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// True when the cache holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
