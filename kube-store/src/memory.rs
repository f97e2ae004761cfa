//! [`MemoryStore`]: the embedded default, multi-version and in memory.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use kube_core::{
    KeyValue, LeaseId, RangeRequest, RangeResponse, Revision, Store, StoreError, WatchStream,
};

use crate::engine::Engine;
use crate::mvcc::{InMemory, Mvcc};
use crate::retention::Retention;

/// The embedded store: etcd v3 semantics, in memory, fast.
///
/// Every write takes one short critical section under a `parking_lot` lock; reads and
/// watchers share a read lock. History (for watches and ranges at past revisions) is kept
/// as the [`Retention`] says, 100,000 revisions and 5 minutes by default, and can be
/// compacted explicitly with [`Store::compact`]. A watcher reads the shared history at
/// its own pace: one that falls behind what is kept gets
/// [`StoreError::Compacted`] and ends, and never slows writers down.
///
/// Leases expire on a background task of the tokio runtime that granted the first of
/// them; the store itself can be built and used without a runtime.
///
/// Cloning a `MemoryStore` gives another handle on the same data. When the last handle
/// is dropped, its watches end.
///
/// ```
/// use kube_core::Store;
/// use kube_store::MemoryStore;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let kv = store.create("/registry/pods/default/web".into(), "v1".into(), None).await?;
/// assert_eq!(kv.mod_revision, 2); // a fresh store is at revision 1
/// let kv = store.update(kv.key, "v2".into(), kv.mod_revision).await?;
/// assert_eq!(kv.version, 2);
/// # Ok::<(), kube_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct MemoryStore {
    engine: Engine<InMemory>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store at revision 1 with the default [`Retention`].
    pub fn new() -> Self {
        Self::with_retention(Retention::default())
    }

    /// An empty store that compacts its history automatically as `retention` says.
    pub fn with_retention(retention: Retention) -> Self {
        Self {
            engine: Engine::new(Mvcc::new(retention), InMemory),
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        Ok(self.engine.get(key))
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse, StoreError> {
        self.engine.range(&request)
    }

    async fn create(
        &self,
        key: Bytes,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> Result<KeyValue, StoreError> {
        self.engine.create(key, value, lease)
    }

    async fn update(
        &self,
        key: Bytes,
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        self.engine.update(&key, value, expected)
    }

    async fn delete(&self, key: &[u8], expected: Option<Revision>) -> Result<KeyValue, StoreError> {
        self.engine.delete(key, expected)
    }

    async fn watch(&self, prefix: Bytes, after: Revision) -> Result<WatchStream, StoreError> {
        self.engine.watch(prefix, after)
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.engine.current_revision())
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.engine.compact(revision)
    }

    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.engine.compacted_revision())
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        self.engine.grant_lease(ttl)
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError> {
        self.engine.keep_alive(lease)
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<(), StoreError> {
        self.engine.revoke_lease(lease)
    }
}
