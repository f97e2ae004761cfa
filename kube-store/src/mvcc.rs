//! The multi-version state shared by the embedded stores: every key's versions since the
//! last compaction, the log of events watchers read, and the leases.
//!
//! This is plain data with no locking: [`crate::engine`] puts it behind one lock and
//! calls [`Persist`] before each change, so that the durable store writes the change to
//! disk before it becomes visible.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kube_core::{
    EventKind, KeyValue, LeaseId, RangeRequest, RangeResponse, Revision, StoreError, StoreEvent,
};

use crate::retention::Retention;

/// One change to make durable before it is applied. Revisions are those the change will
/// take; a batch holds the changes of one operation, applied together or not at all.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Record<'a> {
    /// A key written (created or updated) at `revision`.
    Put {
        /// The revision of the write.
        revision: Revision,
        /// The key.
        key: &'a [u8],
        /// The new value.
        value: &'a [u8],
        /// The key's lease.
        lease: Option<LeaseId>,
    },
    /// A key deleted at `revision`.
    Delete {
        /// The revision of the delete.
        revision: Revision,
        /// The key.
        key: &'a [u8],
    },
    /// A lease granted.
    GrantLease {
        /// The lease.
        id: LeaseId,
        /// Its time to live.
        ttl: Duration,
    },
    /// A lease revoked or expired (its keys' deletes come first in the batch).
    RevokeLease {
        /// The lease.
        id: LeaseId,
    },
    /// History at and below `revision` discarded.
    Compact {
        /// The new compacted revision.
        revision: Revision,
    },
}

/// Makes changes durable before they are applied in memory.
pub(crate) trait Persist: Send + Sync + 'static {
    /// False for a store that keeps nothing: the engine then skips building records.
    const ENABLED: bool;

    /// Writes a batch durably; an error leaves the state unchanged.
    fn commit(&self, records: &[Record<'_>]) -> Result<(), StoreError>;
}

/// Persistence for the in-memory store: nothing to do.
#[derive(Debug, Default)]
pub(crate) struct InMemory;

impl Persist for InMemory {
    const ENABLED: bool = false;

    #[inline]
    fn commit(&self, _records: &[Record<'_>]) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A lease and the keys attached to it.
#[derive(Debug)]
pub(crate) struct Lease {
    /// Its time to live.
    pub(crate) ttl: Duration,
    /// When it expires unless kept alive.
    pub(crate) deadline: Instant,
    /// The live keys attached to it.
    pub(crate) keys: BTreeSet<Bytes>,
}

/// Every version of a key still in history, oldest first. A version with `version == 0`
/// is a tombstone: the key was deleted at its `mod_revision`.
#[derive(Debug, Default)]
struct KeyHistory {
    versions: VecDeque<KeyValue>,
}

impl KeyHistory {
    /// The live value, if the key exists now.
    fn live(&self) -> Option<&KeyValue> {
        self.versions.back().filter(|kv| kv.version != 0)
    }

    /// The value the key had at `revision`, if it existed then.
    fn at(&self, revision: Revision) -> Option<&KeyValue> {
        let i = self
            .versions
            .partition_point(|kv| kv.mod_revision <= revision);
        i.checked_sub(1)
            .and_then(|i| self.versions.get(i))
            .filter(|kv| kv.version != 0)
    }
}

/// The whole multi-version state.
#[derive(Debug)]
pub(crate) struct Mvcc {
    /// The current revision.
    revision: Revision,
    /// History at and below this revision is gone.
    compacted: Revision,
    /// Every key with history, live or deleted since the last compaction.
    keys: BTreeMap<Bytes, KeyHistory>,
    /// The events of the last revisions, one per revision, up to `revision`: they start
    /// after `compacted` (or after 1, the empty store's revision, before any compaction).
    log: VecDeque<StoreEvent>,
    /// Revisions written at known instants, for compaction by age, oldest first.
    checkpoints: VecDeque<(Revision, Instant)>,
    /// The leases granted and not yet revoked or expired.
    pub(crate) leases: HashMap<LeaseId, Lease>,
    /// The id the next lease gets.
    pub(crate) next_lease: LeaseId,
    /// When history is compacted automatically.
    retention: Retention,
}

/// What a write did, for the caller to return.
pub(crate) type WriteResult = Result<KeyValue, StoreError>;

fn empty_key() -> StoreError {
    StoreError::InvalidRequest("the key is empty".to_owned())
}

impl Mvcc {
    /// An empty state at revision 1.
    pub(crate) fn new(retention: Retention) -> Self {
        Self {
            revision: 1,
            compacted: 0,
            keys: BTreeMap::new(),
            log: VecDeque::new(),
            checkpoints: VecDeque::new(),
            leases: HashMap::new(),
            next_lease: 1,
            retention,
        }
    }

    /// The current revision.
    pub(crate) fn revision(&self) -> Revision {
        self.revision
    }

    /// The compacted revision.
    pub(crate) fn compacted(&self) -> Revision {
        self.compacted
    }

    /// The latest value of a key.
    pub(crate) fn get(&self, key: &[u8]) -> Option<KeyValue> {
        self.keys.get(key).and_then(KeyHistory::live).cloned()
    }

    /// A range read; see [`RangeRequest`].
    pub(crate) fn range(&self, request: &RangeRequest) -> Result<RangeResponse, StoreError> {
        let revision = match request.revision {
            0 => self.revision,
            r if r < 0 => {
                return Err(StoreError::InvalidRequest(format!("negative revision {r}")));
            }
            r if r > self.revision => {
                return Err(StoreError::FutureRevision {
                    requested: r,
                    current: self.revision,
                });
            }
            r if r < self.compacted => {
                return Err(StoreError::Compacted {
                    requested: r,
                    compacted: self.compacted,
                });
            }
            r => r,
        };
        let prefix = &request.prefix[..];
        let start: &[u8] = match &request.start {
            Some(start) if start[..] > *prefix => start,
            _ => prefix,
        };
        let latest = revision == self.revision;
        let mut response = RangeResponse {
            revision,
            ..RangeResponse::default()
        };
        let range = self
            .keys
            .range::<[u8], _>((Bound::Included(start), Bound::Unbounded));
        for (key, history) in range {
            if !key.starts_with(prefix) {
                break;
            }
            let kv = if latest {
                history.live()
            } else {
                history.at(revision)
            };
            let Some(kv) = kv else {
                continue;
            };
            response.count += 1;
            if request.count_only {
                continue;
            }
            if request.limit == 0 || response.kvs.len() < request.limit {
                response.kvs.push(kv.clone());
            } else {
                response.more = true;
            }
        }
        Ok(response)
    }

    /// Checks a create and returns the revision it would take.
    pub(crate) fn check_create(
        &self,
        key: &[u8],
        lease: Option<LeaseId>,
    ) -> Result<Revision, StoreError> {
        if key.is_empty() {
            return Err(empty_key());
        }
        if let Some(lease) = lease {
            if !self.leases.contains_key(&lease) {
                return Err(StoreError::LeaseNotFound(lease));
            }
        }
        if self.keys.get(key).and_then(KeyHistory::live).is_some() {
            return Err(StoreError::AlreadyExists);
        }
        Ok(self.revision + 1)
    }

    /// Creates a key checked by [`Mvcc::check_create`].
    pub(crate) fn apply_create(
        &mut self,
        key: Bytes,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> KeyValue {
        let revision = self.revision + 1;
        let kv = KeyValue {
            key,
            value,
            create_revision: revision,
            mod_revision: revision,
            version: 1,
            lease,
        };
        if let Some(lease) = lease.and_then(|id| self.leases.get_mut(&id)) {
            lease.keys.insert(kv.key.clone());
        }
        let history = match self.keys.get_mut(&kv.key[..]) {
            Some(history) => history,
            None => self.keys.entry(kv.key.clone()).or_default(),
        };
        history.versions.push_back(kv.clone());
        self.push_event(StoreEvent {
            kind: EventKind::Put,
            kv: kv.clone(),
            prev_kv: None,
        });
        kv
    }

    /// Compare-and-swap update in one step: check, persist through `persist`, apply.
    pub(crate) fn update<P: Persist>(
        &mut self,
        persist: &P,
        key: &[u8],
        value: Bytes,
        expected: Revision,
    ) -> WriteResult {
        if key.is_empty() {
            return Err(empty_key());
        }
        let revision = self.revision + 1;
        let history = self.keys.get_mut(key).ok_or(StoreError::NotFound)?;
        let current = history
            .versions
            .back()
            .filter(|kv| kv.version != 0)
            .ok_or(StoreError::NotFound)?;
        if current.mod_revision != expected {
            return Err(StoreError::Conflict {
                expected,
                current: Box::new(current.clone()),
            });
        }
        if P::ENABLED {
            persist.commit(&[Record::Put {
                revision,
                key,
                value: &value,
                lease: current.lease,
            }])?;
        }
        let kv = KeyValue {
            key: current.key.clone(),
            value,
            create_revision: current.create_revision,
            mod_revision: revision,
            version: current.version + 1,
            lease: current.lease,
        };
        let prev = current.clone();
        history.versions.push_back(kv.clone());
        self.push_event(StoreEvent {
            kind: EventKind::Put,
            kv: kv.clone(),
            prev_kv: Some(prev),
        });
        Ok(kv)
    }

    /// Checks a delete and returns the live value it removes.
    pub(crate) fn check_delete(
        &self,
        key: &[u8],
        expected: Option<Revision>,
    ) -> Result<&KeyValue, StoreError> {
        if key.is_empty() {
            return Err(empty_key());
        }
        let current = self
            .keys
            .get(key)
            .and_then(KeyHistory::live)
            .ok_or(StoreError::NotFound)?;
        if let Some(expected) = expected.filter(|e| *e != current.mod_revision) {
            return Err(StoreError::Conflict {
                expected,
                current: Box::new(current.clone()),
            });
        }
        Ok(current)
    }

    /// Deletes a live key checked by [`Mvcc::check_delete`] (or found by a lease).
    pub(crate) fn apply_delete(&mut self, key: &[u8]) -> Option<KeyValue> {
        let revision = self.revision + 1;
        let history = self.keys.get_mut(key)?;
        let prev = history.live()?.clone();
        let deleted = KeyValue {
            mod_revision: revision,
            ..prev.clone()
        };
        let tombstone = KeyValue {
            value: Bytes::new(),
            create_revision: 0,
            mod_revision: revision,
            version: 0,
            lease: None,
            key: prev.key.clone(),
        };
        history.versions.push_back(tombstone);
        if let Some(lease) = prev.lease.and_then(|id| self.leases.get_mut(&id)) {
            lease.keys.remove(key);
        }
        self.push_event(StoreEvent {
            kind: EventKind::Delete,
            kv: deleted.clone(),
            prev_kv: Some(prev),
        });
        Some(deleted)
    }

    /// Appends the event of the write at `revision + 1` and moves the revision on.
    fn push_event(&mut self, event: StoreEvent) {
        self.revision += 1;
        self.log.push_back(event);
    }

    /// The revision automatic compaction would compact to now, if it is due.
    pub(crate) fn retention_target(&mut self, now: Instant) -> Option<Revision> {
        let retention = self.retention;
        if let Some(max_age) = retention.max_age {
            let fresh = self.checkpoints.back().is_some_and(|(_, at)| {
                now.saturating_duration_since(*at) < retention.checkpoint_interval()
            });
            if !fresh {
                self.checkpoints.push_back((self.revision, now));
            }
            let mut target = None;
            while let Some(&(revision, at)) = self.checkpoints.front() {
                if now.saturating_duration_since(at) < max_age {
                    break;
                }
                target = Some(revision);
                self.checkpoints.pop_front();
            }
            if let Some(target) = target.filter(|t| *t > self.compacted) {
                return Some(target);
            }
        }
        if self.log.len() > retention.max_revisions.saturating_add(retention.slack()) {
            return Some(self.revision - retention.max_revisions as Revision);
        }
        None
    }

    /// Checks a compaction: `Ok(None)` when it is a no-op.
    pub(crate) fn check_compact(&self, revision: Revision) -> Result<Option<Revision>, StoreError> {
        if revision > self.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        Ok((revision > self.compacted).then_some(revision))
    }

    /// Discards history at and below `revision` (checked by [`Mvcc::check_compact`]),
    /// keeping each key's state at `revision`.
    pub(crate) fn apply_compact(&mut self, revision: Revision) {
        let revision = revision.min(self.revision);
        while let Some(event) = self.log.front() {
            if event.kv.mod_revision > revision {
                break;
            }
            let Some(event) = self.log.pop_front() else {
                break;
            };
            let key = &event.kv.key[..];
            let Some(history) = self.keys.get_mut(key) else {
                continue;
            };
            while history.versions.len() > 1 && history.versions[1].mod_revision <= revision {
                history.versions.pop_front();
            }
            let gone = history
                .versions
                .front()
                .is_some_and(|kv| kv.version == 0 && kv.mod_revision <= revision);
            if gone {
                history.versions.pop_front();
                if history.versions.is_empty() {
                    self.keys.remove(key);
                }
            }
        }
        self.compacted = self.compacted.max(revision);
        while self
            .checkpoints
            .front()
            .is_some_and(|(r, _)| *r <= revision)
        {
            self.checkpoints.pop_front();
        }
    }

    /// The keys written after `after`, as far as the log holds them.
    pub(crate) fn keys_after(&self, after: Revision) -> impl Iterator<Item = &[u8]> + Clone {
        let log_base = self.revision - self.log.len() as Revision;
        let first = usize::try_from(after - log_base).unwrap_or(0);
        self.log
            .range(first.min(self.log.len())..)
            .map(|event| &event.kv.key[..])
    }

    /// The events after `after` whose key starts with `prefix`, at most `max_events` of
    /// them and at most `max_scan` events looked at: they are appended to `out`, and the
    /// revision of the last event looked at is returned. `Err` when `after` is below the
    /// compacted revision.
    pub(crate) fn events_after(
        &self,
        prefix: &[u8],
        after: Revision,
        max_events: usize,
        max_scan: usize,
        out: &mut VecDeque<StoreEvent>,
    ) -> Result<Revision, StoreError> {
        if after < self.compacted {
            return Err(StoreError::Compacted {
                requested: after,
                compacted: self.compacted,
            });
        }
        // The log holds the revisions after `self.revision - self.log.len()`.
        let log_base = self.revision - self.log.len() as Revision;
        let first = usize::try_from(after - log_base).unwrap_or(0);
        let mut last = after;
        let mut taken = 0;
        for event in self.log.range(first.min(self.log.len())..).take(max_scan) {
            last = event.kv.mod_revision;
            if event.kv.key.starts_with(prefix) {
                out.push_back(event.clone());
                taken += 1;
                if taken >= max_events {
                    break;
                }
            }
        }
        Ok(last)
    }

    /// Grants a lease with the id [`Mvcc::next_lease`] holds.
    pub(crate) fn grant_lease(&mut self, ttl: Duration, now: Instant) -> LeaseId {
        let id = self.next_lease;
        self.next_lease += 1;
        self.leases.insert(
            id,
            Lease {
                ttl,
                deadline: now + ttl,
                keys: BTreeSet::new(),
            },
        );
        id
    }

    /// Restores a lease read back from disk, with a fresh TTL from `now`.
    pub(crate) fn restore_lease(&mut self, id: LeaseId, ttl: Duration, now: Instant) {
        self.next_lease = self.next_lease.max(id + 1);
        self.leases.insert(
            id,
            Lease {
                ttl,
                deadline: now + ttl,
                keys: BTreeSet::new(),
            },
        );
    }

    /// The leases past their deadline.
    pub(crate) fn expired_leases(&self, now: Instant) -> Vec<LeaseId> {
        let mut expired: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(_, lease)| lease.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        expired.sort_unstable();
        expired
    }

    /// The earliest lease deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.leases.values().map(|lease| lease.deadline).min()
    }

    /// Replays a write read back from disk (its revision must be the next one).
    pub(crate) fn replay(&mut self, record: &Record<'_>) -> Result<(), String> {
        match *record {
            Record::Put {
                revision,
                key,
                value,
                lease,
            } => {
                self.check_replayed(revision)?;
                let value = Bytes::copy_from_slice(value);
                match self.keys.get(key).and_then(KeyHistory::live) {
                    Some(current) => {
                        let expected = current.mod_revision;
                        self.update(&InMemory, key, value, expected)
                            .map_err(|e| e.to_string())?;
                    }
                    None => {
                        self.apply_create(Bytes::copy_from_slice(key), value, lease);
                    }
                }
            }
            Record::Delete { revision, key } => {
                self.check_replayed(revision)?;
                if self.apply_delete(key).is_none() {
                    return Err(format!("delete at revision {revision} of a missing key"));
                }
            }
            Record::GrantLease { .. } | Record::RevokeLease { .. } | Record::Compact { .. } => {
                return Err("only writes are replayed".to_owned());
            }
        }
        Ok(())
    }

    fn check_replayed(&self, revision: Revision) -> Result<(), String> {
        if revision == self.revision + 1 {
            Ok(())
        } else {
            Err(format!(
                "the write at revision {revision} follows revision {}",
                self.revision
            ))
        }
    }

    /// Sets the revision and compacted revision of a state rebuilt from a snapshot
    /// (before any write is replayed).
    pub(crate) fn set_base(&mut self, revision: Revision, compacted: Revision) {
        self.revision = revision;
        self.compacted = compacted;
    }

    /// Inserts a live key of a snapshot (no event: it is below the compacted revision).
    pub(crate) fn restore_key(&mut self, kv: KeyValue) {
        if let Some(lease) = kv.lease.and_then(|id| self.leases.get_mut(&id)) {
            lease.keys.insert(kv.key.clone());
        }
        self.keys
            .entry(kv.key.clone())
            .or_default()
            .versions
            .push_back(kv);
    }
}
