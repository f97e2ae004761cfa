//! Entry points for the crate's benchmarks (`benches/`): the watch cache without a store
//! behind it, fed events by hand. Not part of the API: hidden from the documentation and
//! free to change.

use bytes::Bytes;
use kube_core::{Error, StoreEvent};

use super::list::ListOptions;
use super::selector::LabelSelector;
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

    /// The JSON the cache serves for an object.
    pub fn json(&self, key: &str) -> Option<Bytes> {
        self.cache.get(key).map(|o| o.json.clone())
    }

    /// Whether an object passes a label selector, as a watch or list with that selector
    /// decides it (decoding the object the first time).
    pub fn matches(&self, key: &str, label_selector: &str) -> Result<bool, Error> {
        let opts = ListOptions {
            labels: LabelSelector::parse(label_selector)?,
            ..ListOptions::default()
        };
        Ok(self.cache.get(key).is_some_and(|o| opts.matches(&o)))
    }

    /// Decodes every object the cache holds, as if a selector watch had asked for each
    /// (the decoded values stay with the objects).
    pub fn decode_all(&self) -> usize {
        let (objects, _) = self.cache.snapshot("");
        objects.iter().filter(|o| o.value().is_some()).count()
    }
}
