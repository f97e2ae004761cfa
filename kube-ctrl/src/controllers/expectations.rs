//! Expectations: what a controller created or deleted and has not yet seen in its cache,
//! so that a slow cache never makes it create (or delete) twice.
//!
//! Kubernetes counts pending adds and deletes and lowers the counts from informer events.
//! Here each write is remembered with the resourceVersion the API server answered, and a
//! write counts as observed once the cache shows it, or once the cache has reached that
//! resourceVersion (it then saw the write, even if the object has changed or gone since).
//! That is level-based: nothing depends on seeing a particular event. Expectations older
//! than five minutes are dropped, as Kubernetes does, so a lost write cannot wedge a key.

use std::collections::HashMap;
use std::time::Duration;

use kube_api::informer::Cache;
use kube_core::{ObjectKey, Resource, ResourceExt as _};
use parking_lot::Mutex;
use tokio::time::Instant;

/// How long an expectation may stay unobserved before it is dropped.
pub(crate) const EXPECTATIONS_TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct Write {
    key: ObjectKey,
    revision: Option<u64>,
}

#[derive(Debug)]
struct Pending {
    creates: Vec<Write>,
    deletes: Vec<Write>,
    updates: Vec<Write>,
    since: Instant,
}

/// Writes of a controller not yet observed, per owner key.
#[derive(Debug, Default)]
pub(crate) struct Expectations {
    pending: Mutex<HashMap<ObjectKey, Pending>>,
}

fn revision(rv: Option<&str>) -> Option<u64> {
    rv.and_then(|v| v.parse().ok())
}

impl Expectations {
    fn entry<'a>(map: &'a mut HashMap<ObjectKey, Pending>, owner: &ObjectKey) -> &'a mut Pending {
        map.entry(owner.clone()).or_insert_with(|| Pending {
            creates: Vec::new(),
            deletes: Vec::new(),
            updates: Vec::new(),
            since: Instant::now(),
        })
    }

    /// `owner` created `child`; the API server answered with `rv`.
    pub(crate) fn created(&self, owner: &ObjectKey, child: ObjectKey, rv: Option<&str>) {
        let mut map = self.pending.lock();
        Self::entry(&mut map, owner).creates.push(Write {
            key: child,
            revision: revision(rv),
        });
    }

    /// `owner` deleted `child`; the API server answered with `rv`.
    pub(crate) fn deleted(&self, owner: &ObjectKey, child: ObjectKey, rv: Option<&str>) {
        let mut map = self.pending.lock();
        Self::entry(&mut map, owner).deletes.push(Write {
            key: child,
            revision: revision(rv),
        });
    }

    /// `owner` updated `child` (for example removed a finalizer from it); the API server
    /// answered with `rv`. Observed once the cache holds that version of `child` or a
    /// later one, or no longer holds `child` at all.
    pub(crate) fn updated(&self, owner: &ObjectKey, child: ObjectKey, rv: Option<&str>) {
        let mut map = self.pending.lock();
        Self::entry(&mut map, owner).updates.push(Write {
            key: child,
            revision: revision(rv),
        });
    }

    /// True when every write of `owner` shows in `cache` (or expired); forgets the writes
    /// observed.
    pub(crate) fn satisfied<K: Resource + Send + Sync + 'static>(
        &self,
        owner: &ObjectKey,
        cache: &Cache<K>,
    ) -> bool {
        let mut map = self.pending.lock();
        let Some(pending) = map.get_mut(owner) else {
            return true;
        };
        let reached = revision(Some(&cache.resource_version()));
        let seen = |w: &Write| matches!((reached, w.revision), (Some(r), Some(w)) if r >= w);
        pending
            .creates
            .retain(|w| !seen(w) && cache.get(&w.key).is_none());
        pending
            .deletes
            .retain(|w| !seen(w) && cache.get(&w.key).is_some_and(|o| !o.is_being_deleted()));
        pending.updates.retain(|w| {
            !seen(w)
                && cache.get(&w.key).is_some_and(|o| {
                    matches!((revision(o.resource_version()), w.revision), (Some(have), Some(want)) if have < want)
                })
        });
        if pending.creates.is_empty() && pending.deletes.is_empty() && pending.updates.is_empty() {
            map.remove(owner);
            return true;
        }
        if pending.since.elapsed() > EXPECTATIONS_TTL {
            tracing::warn!(
                owner = %owner,
                creates = pending.creates.len(),
                deletes = pending.deletes.len(),
                updates = pending.updates.len(),
                "expectations expired unobserved"
            );
            map.remove(owner);
            return true;
        }
        false
    }

    /// Forgets everything about `owner` (it is gone).
    pub(crate) fn forget(&self, owner: &ObjectKey) {
        self.pending.lock().remove(owner);
    }
}

#[cfg(test)]
mod tests {
    use kube_api::informer::{CacheWriter, Change};
    use kube_core::{ObjectMeta, Pod, Time};

    use super::*;

    fn pod(name: &str, rv: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(rv.into()),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    #[test]
    fn creates_count_once_the_cache_shows_them_or_passed_them() {
        let writer = CacheWriter::<Pod>::new();
        let cache = writer.cache();
        let e = Expectations::default();
        let rs = ObjectKey::namespaced("ns", "rs");
        e.created(&rs, ObjectKey::namespaced("ns", "a"), Some("10"));
        e.created(&rs, ObjectKey::namespaced("ns", "b"), Some("11"));
        assert!(!e.satisfied(&rs, &cache));
        writer.apply(Change::Upsert(pod("a", "10")));
        assert!(!e.satisfied(&rs, &cache), "b not seen yet");
        // b was created and deleted before the cache saw it: the cache passing its
        // revision is enough.
        writer.apply(Change::Upsert(pod("other", "12")));
        assert!(e.satisfied(&rs, &cache));
        assert!(e.satisfied(&ObjectKey::namespaced("ns", "unknown"), &cache));
    }

    #[test]
    fn deletes_count_once_gone_or_terminating() {
        let writer = CacheWriter::<Pod>::new();
        let cache = writer.cache();
        writer.apply(Change::Upsert(pod("a", "1")));
        writer.apply(Change::Upsert(pod("b", "2")));
        let e = Expectations::default();
        let rs = ObjectKey::namespaced("ns", "rs");
        e.deleted(&rs, ObjectKey::namespaced("ns", "a"), None);
        e.deleted(&rs, ObjectKey::namespaced("ns", "b"), None);
        assert!(!e.satisfied(&rs, &cache));
        writer.apply(Change::Delete(pod("a", "3")));
        let mut b = pod("b", "4");
        b.metadata.deletion_timestamp = Some(Time::now());
        writer.apply(Change::Upsert(b));
        assert!(e.satisfied(&rs, &cache));
        e.created(&rs, ObjectKey::namespaced("ns", "c"), None);
        e.forget(&rs);
        assert!(e.satisfied(&rs, &cache));
    }

    #[test]
    fn updates_count_once_the_cache_holds_that_version_or_the_object_is_gone() {
        let writer = CacheWriter::<Pod>::new();
        let cache = writer.cache();
        writer.apply(Change::Upsert(pod("a", "1")));
        writer.apply(Change::Upsert(pod("b", "2")));
        let e = Expectations::default();
        let job = ObjectKey::namespaced("ns", "job");
        e.updated(&job, ObjectKey::namespaced("ns", "a"), Some("5"));
        e.updated(&job, ObjectKey::namespaced("ns", "b"), Some("6"));
        assert!(
            !e.satisfied(&job, &cache),
            "the cache still holds the old versions"
        );
        writer.apply(Change::Upsert(pod("a", "5")));
        assert!(!e.satisfied(&job, &cache), "b's update not seen yet");
        writer.apply(Change::Delete(pod("b", "2")));
        assert!(e.satisfied(&job, &cache), "a updated, b gone");
    }
}
