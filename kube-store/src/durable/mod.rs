//! [`DurableStore`]: the embedded store for a single machine that must survive restarts.
//!
//! # Why redb
//!
//! The store keeps its data in one [redb](https://docs.rs/redb) database file in its data
//! directory. redb is a pure-Rust, ACID, copy-on-write B-tree engine: it builds in seconds
//! with no C toolchain (SQLite through rusqlite would compile the C library on every clean
//! build, a minute on two cores, or tie the build to the system's libsqlite3), every
//! commit is durable when it returns (it fsyncs by default, with a checksummed commit
//! slot, so a torn write after `kill -9` or a power cut leaves the previous commit in
//! force), and it holds an exclusive file lock so two processes cannot share a data
//! directory by mistake. kine (k3s's etcd shim over SQLite) must emulate revisions with
//! SQL; here the revision log is simply a table keyed by revision.
//!
//! # Durability model
//!
//! Every write (create, update, delete, each key removed by a lease, a compaction, a
//! lease grant or revoke) is committed, fsync included, before it becomes visible to
//! readers and watchers and before the call returns: an acknowledged write survives
//! `kill -9`, and after a restart the revision continues from the last write. Lease
//! deadlines are not persisted: after a restart each lease gets a full TTL again (etcd
//! does the same when a new leader takes over).
//!
//! # What is on disk and in memory
//!
//! On disk: the history since the last compaction as a log of writes by revision, and a
//! snapshot of every live key at the compacted revision (see the `disk` module). In
//! memory: the same data, rebuilt at open (the snapshot, then the log replayed), which
//! serves every read and watch exactly as [`MemoryStore`](crate::MemoryStore) does.
//! Watches and ranges at past revisions therefore work across restarts, back to the
//! compacted revision. The whole data set must fit in memory, as it does for the API
//! server's watch cache anyway. Compaction (explicit, or automatic by the [`Retention`])
//! folds the log into the snapshot on disk in the same step.
//!
//! Writes are serialised, one fsync each; reads wait for a commit in flight.

mod codec;
mod disk;
mod error;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use kube_core::{
    KeyValue, LeaseId, RangeRequest, RangeResponse, Revision, Store, StoreError, WatchStream,
};

pub use self::error::OpenError;
use crate::engine::Engine;
use crate::retention::Retention;

/// The durable embedded store: etcd v3 semantics, every acknowledged write fsynced to a
/// redb database in a data directory. See the [module docs](self) for the durability
/// model.
///
/// ```
/// use kube_core::Store;
/// use kube_store::DurableStore;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = DurableStore::open(dir.path())?;
/// let kv = store.create("/registry/pods/default/web".into(), "v1".into(), None).await?;
/// drop(store);
///
/// let store = DurableStore::open(dir.path())?;
/// assert_eq!(store.get(b"/registry/pods/default/web").await?, Some(kv));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct DurableStore {
    engine: Engine<disk::Disk>,
    dir: PathBuf,
}

impl DurableStore {
    /// Opens the store in `dir`, creating the directory and an empty store (at revision
    /// 1) if needed, with the default [`Retention`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::open_with_retention(dir, Retention::default())
    }

    /// Opens the store in `dir`, compacting history automatically as `retention` says.
    pub fn open_with_retention(
        dir: impl AsRef<Path>,
        retention: Retention,
    ) -> Result<Self, OpenError> {
        let dir = dir.as_ref();
        let (state, disk) = disk::load(dir, retention)?;
        tracing::debug!(
            dir = %dir.display(),
            revision = state.revision(),
            compacted = state.compacted(),
            "opened the durable store"
        );
        Ok(Self {
            engine: Engine::new(state, disk),
            dir: dir.to_owned(),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file in the data directory.
    pub fn file(&self) -> PathBuf {
        self.dir.join(disk::FILE_NAME)
    }
}

#[async_trait]
impl Store for DurableStore {
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
