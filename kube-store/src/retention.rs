//! How much history the embedded stores keep before compacting it by themselves.

use std::time::Duration;

/// When the embedded stores compact their history automatically.
///
/// History serves watches and ranges at past revisions: a watcher that falls further
/// behind than the history kept gets [`kube_core::StoreError::Compacted`] and must
/// re-list, as Kubernetes clients do on 410 Gone. Compaction runs on writes, so a store
/// that receives no writes keeps what it has (and does not grow).
///
/// The defaults keep the last 100,000 revisions and at most 5 minutes of history (the
/// Kubernetes API server compacts etcd every 5 minutes): about 30 MB of bookkeeping in
/// memory at most, besides the values themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// Keep at most this many revisions of history (at least 1).
    pub max_revisions: usize,
    /// Discard history older than this; `None` keeps it whatever its age.
    pub max_age: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_revisions: 100_000,
            max_age: Some(Duration::from_secs(5 * 60)),
        }
    }
}

impl Retention {
    /// Keeps history whatever its size and age: only explicit compaction discards it.
    pub fn unbounded() -> Self {
        Self {
            max_revisions: usize::MAX,
            max_age: None,
        }
    }

    /// Sets [`Retention::max_revisions`] (at least 1).
    #[must_use]
    pub fn max_revisions(mut self, revisions: usize) -> Self {
        self.max_revisions = revisions.max(1);
        self
    }

    /// Sets [`Retention::max_age`].
    #[must_use]
    pub fn max_age(mut self, age: Option<Duration>) -> Self {
        self.max_age = age;
        self
    }

    /// How far past `max_revisions` history may grow before a compaction brings it back:
    /// compacting in batches keeps the cost per write flat.
    pub(crate) fn slack(&self) -> usize {
        (self.max_revisions / 16).clamp(1, 4096)
    }

    /// How often a revision's time is noted for compaction by age.
    pub(crate) fn checkpoint_interval(&self) -> Duration {
        self.max_age.map_or(Duration::from_secs(1), |age| {
            (age / 64).max(Duration::from_millis(10))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_bounded() {
        let retention = Retention::default();
        assert_eq!(retention.max_revisions, 100_000);
        assert_eq!(retention.max_age, Some(Duration::from_secs(300)));
        assert_eq!(retention.slack(), 4096);
    }

    #[test]
    fn max_revisions_is_at_least_one() {
        let retention = Retention::default().max_revisions(0);
        assert_eq!(retention.max_revisions, 1);
        assert_eq!(retention.slack(), 1);
        assert_eq!(Retention::unbounded().max_age, None);
    }
}
