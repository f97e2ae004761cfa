//! The [`Store`] trait: a versioned key-value store with the semantics of etcd v3.
//!
//! The API server keeps every object here, encoded, under keys such as
//! `/registry/pods/default/web`. The store is byte-level, like etcd, so that any key-value
//! engine can back it.
//!
//! # The contract
//!
//! Every implementation must honour all of this; kube-store's conformance suite checks it.
//!
//! - **One global revision.** The store has a single revision counter, starting at 1 for
//!   an empty store (etcd's convention). Every successful write (create, update, delete,
//!   and each key removed by a lease expiry) increments it by exactly one, and the written
//!   key's `mod_revision` is the new revision. Failed writes change nothing.
//! - **Per-key versions.** `create_revision` is the revision that created the key,
//!   `mod_revision` the one that last changed it, and `version` counts changes since
//!   creation (1 after the create). A key deleted and created again starts over.
//! - **Reads.** [`Store::get`] reads the latest value. [`Store::range`] lists keys under a
//!   prefix, in byte order, at one consistent revision: the latest, or an earlier one still
//!   in history. With a limit, the response says whether more keys remain; the next page
//!   is read by passing the same revision and a start key just after the last key returned,
//!   and sees exactly what the first page would have seen, however many writes came since.
//! - **Compare-and-swap.** [`Store::create`] fails with [`StoreError::AlreadyExists`] when
//!   the key exists. [`Store::update`] and [`Store::delete`] take the `mod_revision` the
//!   caller read and fail with [`StoreError::Conflict`] (carrying the current value) when
//!   the key has changed since, or [`StoreError::NotFound`] when it is gone.
//! - **Leases.** A key may be attached to a lease ([`Store::grant_lease`]); when the lease's
//!   TTL passes without a keep-alive, or it is revoked, its keys are deleted, each deletion
//!   a normal write seen by watchers.
//! - **Watch.** [`Store::watch`] streams every change to keys under a prefix with revision
//!   strictly greater than the one given, in revision order, each exactly once: puts with
//!   the new value (and the previous one, when there was one), deletes with the value that
//!   was deleted. Passing the current revision watches from now.
//! - **Compaction.** [`Store::compact`] discards history at and below a revision (the
//!   latest value of every live key is always kept). Afterwards a range at a revision below
//!   the compacted one, and a watch from a revision below it, fail with
//!   [`StoreError::Compacted`]; the API server turns that into 410 Gone. Stores may also
//!   compact by themselves (by age or count); that is the same operation.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;

use crate::error::BoxError;

/// A store revision. Revisions start at 1 and only grow.
pub type Revision = i64;

/// The id of a lease granted by [`Store::grant_lease`].
pub type LeaseId = i64;

/// A key with its value and versions.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Bytes,
    /// The value.
    pub value: Bytes,
    /// The revision that created the key.
    pub create_revision: Revision,
    /// The revision that last modified the key.
    pub mod_revision: Revision,
    /// How many times the key changed since it was created (1 after the create).
    pub version: i64,
    /// The lease the key is attached to, if any.
    pub lease: Option<LeaseId>,
}

impl fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyValue")
            .field("key", &String::from_utf8_lossy(&self.key))
            .field("value_len", &self.value.len())
            .field("create_revision", &self.create_revision)
            .field("mod_revision", &self.mod_revision)
            .field("version", &self.version)
            .field("lease", &self.lease)
            .finish()
    }
}

/// A range read: keys under `prefix`, from `start` on, at `revision`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeRequest {
    /// Only keys that start with this prefix.
    pub prefix: Bytes,
    /// The first key to return (inclusive); `None` starts at the prefix.
    /// To resume after key `k`, pass `k` with a zero byte appended.
    pub start: Option<Bytes>,
    /// At most this many keys; 0 means no limit.
    pub limit: usize,
    /// Read at this revision; 0 means the latest.
    pub revision: Revision,
    /// Only count the keys; return no values.
    pub count_only: bool,
}

impl RangeRequest {
    /// All keys under a prefix, at the latest revision.
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        Self {
            prefix: prefix.into(),
            ..Self::default()
        }
    }

    /// Sets the limit.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Sets the revision to read at.
    #[must_use]
    pub fn at_revision(mut self, revision: Revision) -> Self {
        self.revision = revision;
        self
    }

    /// Sets the start key (inclusive).
    #[must_use]
    pub fn start(mut self, start: impl Into<Bytes>) -> Self {
        self.start = Some(start.into());
        self
    }
}

/// The answer to a [`RangeRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResponse {
    /// The keys, in byte order (empty with `count_only`).
    pub kvs: Vec<KeyValue>,
    /// True when the limit cut the list and more keys remain.
    pub more: bool,
    /// How many keys in all match the prefix and start, ignoring the limit.
    pub count: usize,
    /// The revision the list was read at: pass it back to read the next page.
    pub revision: Revision,
}

/// What a watch event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A key was created or changed.
    Put,
    /// A key was deleted.
    Delete,
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreEvent {
    /// Put or delete.
    pub kind: EventKind,
    /// For a put, the new key-value; for a delete, the key with its last value, and
    /// `mod_revision` set to the revision of the delete.
    pub kv: KeyValue,
    /// For a put of an existing key, the value before; for a delete, the value deleted.
    pub prev_kv: Option<KeyValue>,
}

impl StoreEvent {
    /// The revision of this change.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// A stream of watch events. It ends when the store shuts down, and yields an error (then
/// ends) when the watch cannot go on, for example [`StoreError::Compacted`].
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<StoreEvent, StoreError>> + Send>>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key does not exist.
    #[error("key not found")]
    NotFound,
    /// The key exists already (create).
    #[error("key already exists")]
    AlreadyExists,
    /// The key changed since the expected revision; here is its current value.
    #[error("revision mismatch: expected mod_revision {expected}, found {}", .current.mod_revision)]
    Conflict {
        /// The revision the caller expected.
        expected: Revision,
        /// The key as it is now.
        current: Box<KeyValue>,
    },
    /// The revision asked for has been compacted away.
    #[error("revision {requested} has been compacted (oldest available is {compacted})")]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The compacted revision; history starts after it.
        compacted: Revision,
    },
    /// The revision asked for is in the future.
    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The current revision.
        current: Revision,
    },
    /// No such lease (never granted, expired or revoked).
    #[error("lease {0} not found")]
    LeaseNotFound(LeaseId),
    /// The request is not valid (empty key, bad argument).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The backend cannot be reached or refused to serve; retrying may help.
    #[error("store unavailable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },
    /// A backend failure (disk, corruption, protocol); the store may be unusable.
    #[error("store backend error: {message}")]
    Backend {
        /// What happened.
        message: String,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },
}

impl StoreError {
    /// An [`StoreError::Unavailable`] with a cause.
    pub fn unavailable(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A [`StoreError::Backend`] with a cause.
    pub fn backend(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// A versioned key-value store with etcd v3 semantics. See the [module docs](self) for the
/// contract every implementation must honour.
///
/// Implementations are shared as `Arc<dyn Store>`; every method takes `&self` and may be
/// called from many tasks at once.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The latest value of a key, or `None`.
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError>;

    /// Keys under a prefix at one revision, with a limit. See [`RangeRequest`].
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse, StoreError>;

    /// Creates a key; fails with [`StoreError::AlreadyExists`] if it exists. Returns the
    /// key-value as written.
    async fn create(
        &self,
        key: Bytes,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> Result<KeyValue, StoreError>;

    /// Replaces the value of a key if its `mod_revision` is still `expected`. Returns the
    /// key-value as written. The key keeps its lease.
    async fn update(
        &self,
        key: Bytes,
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError>;

    /// Deletes a key, if its `mod_revision` is still `expected` when given. Returns the
    /// deleted key-value, with `mod_revision` set to the revision of the delete.
    async fn delete(&self, key: &[u8], expected: Option<Revision>) -> Result<KeyValue, StoreError>;

    /// Every change under `prefix` with a revision greater than `after`, in order.
    async fn watch(&self, prefix: Bytes, after: Revision) -> Result<WatchStream, StoreError>;

    /// The current revision.
    async fn current_revision(&self) -> Result<Revision, StoreError>;

    /// Discards history at and below `revision`. Compacting at or below an earlier
    /// compaction is a no-op; above the current revision is
    /// [`StoreError::FutureRevision`].
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;

    /// The revision history was last compacted at (0 if never).
    async fn compacted_revision(&self) -> Result<Revision, StoreError>;

    /// Grants a lease with a time to live; keys attached to it go when it expires.
    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId, StoreError>;

    /// Renews a lease for another full TTL.
    async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError>;

    /// Revokes a lease now, deleting its keys.
    async fn revoke_lease(&self, lease: LeaseId) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn store_is_object_safe() {
        fn takes(_: Option<Arc<dyn Store>>) {}
        takes(None);
    }

    #[test]
    fn errors_read_well() {
        let err = StoreError::Compacted {
            requested: 3,
            compacted: 10,
        };
        assert_eq!(
            err.to_string(),
            "revision 3 has been compacted (oldest available is 10)"
        );
    }
}
