//! Versioned key-value stores for kube-sdk: the place the API server keeps all cluster state.
//!
//! This crate will own the implementations of [`kube_core::Store`], with the semantics of
//! etcd v3 (one global revision, per-key create and modify revisions, compare-and-swap
//! writes, watches from a revision, compaction):
//!
//! - `MemoryStore`, the embedded default: MVCC in memory with a bounded watch history;
//! - a durable embedded store for single-machine clusters that must survive restarts;
//! - `EtcdStore`, over a real etcd through the etcd-client crate;
//! - one public conformance suite that every backend, ours or a user's, must pass.
//!
//! Nothing is implemented here yet: the store lands with its own issue.
