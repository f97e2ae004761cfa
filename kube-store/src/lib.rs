//! Versioned key-value stores for kube-sdk: the place the API server keeps all cluster state.
//!
//! This crate owns the implementations of [`kube_core::Store`], with the semantics of
//! etcd v3 (one global revision, per-key create and modify revisions, compare-and-swap
//! writes, watches from a revision, compaction), and the conformance suite that checks
//! them:
//!
//! - [`MemoryStore`], the embedded default: MVCC in memory with a bounded history.
//! - [`DurableStore`], the same on a single machine, every write fsynced to a redb
//!   database so that it survives `kill -9` and restarts.
//! - `EtcdStore` (feature `etcd`), over a real etcd through the etcd-client crate.
//! - [`conformance`] (feature `conformance`): one public suite that every backend, ours or
//!   a user's, must pass.
//!
//! # Which store
//!
//! - Tests, examples, simulations and anything that may lose its state on exit:
//!   [`MemoryStore`]. More than a million compare-and-swap updates a second on one core.
//! - A cluster on one machine that must keep its state across restarts without running
//!   etcd: [`DurableStore`] (one fsync per write: a few hundred to a few thousand writes a
//!   second, depending on the disk).
//! - A production cluster with several control-plane machines: `EtcdStore`, as
//!   Kubernetes does.
//!
//! # Example
//!
//! ```
//! use futures::StreamExt;
//! use kube_core::{EventKind, RangeRequest, Store, StoreError};
//! use kube_store::MemoryStore;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let start = store.current_revision().await?;
//! let mut events = store.watch("/registry/pods/".into(), start).await?;
//!
//! let web = store.create("/registry/pods/default/web".into(), "v1".into(), None).await?;
//! // Compare-and-swap: the update names the revision it read.
//! let web = store.update(web.key, "v2".into(), web.mod_revision).await?;
//! let stale = store.update(web.key.clone(), "v3".into(), web.mod_revision - 1).await;
//! assert!(matches!(stale, Err(StoreError::Conflict { .. })));
//!
//! let list = store.range(RangeRequest::prefix("/registry/pods/")).await?;
//! assert_eq!(list.kvs, vec![web]);
//!
//! let created = events.next().await.unwrap()?;
//! assert_eq!((created.kind, created.revision()), (EventKind::Put, start + 1));
//! # Ok::<(), StoreError>(())
//! # }).unwrap();
//! ```

#[cfg(feature = "conformance")]
pub mod conformance;
mod durable;
mod engine;
#[cfg(feature = "etcd")]
mod etcd;
mod memory;
mod mvcc;
mod retention;

pub use durable::{DurableStore, OpenError};
#[cfg(feature = "etcd")]
pub use etcd::{EtcdConfig, EtcdStore, EtcdTls, etcd_client, testing as etcd_testing};
pub use memory::MemoryStore;
pub use retention::Retention;
