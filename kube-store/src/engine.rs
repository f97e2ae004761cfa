//! The engine under both embedded stores: the [`Mvcc`] state behind one lock, watchers
//! fed from its event log, and the background expiry of leases.
//!
//! Each write takes the lock once, checks, persists (a no-op in memory), applies, and
//! publishes the new revision; watchers are woken after the lock is released. Watchers do
//! not have queues of their own: each reads the shared event log from its own position,
//! in batches, under the read lock. A slow watcher therefore costs writers nothing and
//! holds no memory; once the history it still needs is compacted away it gets
//! [`StoreError::Compacted`] and ends.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use kube_core::{
    KeyValue, LeaseId, RangeRequest, RangeResponse, Revision, StoreError, StoreEvent, WatchStream,
};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::mvcc::{Mvcc, Persist, Record};

/// How many events a watcher takes per lock of the state.
const WATCH_BATCH: usize = 512;

/// How many entries of the log a watcher looks at per lock of the state, matching or not.
/// Far more than it takes: a watcher of a quiet prefix (RBAC, Services) on a store taking
/// thousands of writes a second must not need a poll per 512 of them to keep its place,
/// or, starved of polls on a busy runtime, it falls behind the compaction and loses its
/// watch. Comparing a key's prefix costs nanoseconds.
const WATCH_SCAN: usize = 65_536;

/// The watchers waiting for a write under their prefix.
///
/// A write wakes only the watchers whose prefix it touched (a pod write does not wake
/// the followers of Leases or ConfigMaps, which would find nothing and wait again). The
/// others stay registered and are told how far they are caught up, so that a watcher of
/// a quiet prefix keeps up with the revision without being polled, and a compaction
/// does not pass it by.
#[derive(Debug, Default)]
struct Waiters {
    /// True while `waiting` may be non-empty: writers check it without locking.
    any: AtomicBool,
    waiting: Mutex<Vec<Waiting>>,
}

/// One registered watcher.
#[derive(Debug)]
struct Waiting {
    id: u64,
    prefix: Bytes,
    waker: Waker,
    /// The watcher had read everything up to this revision when it registered; writes
    /// not under its prefix move it on.
    caught_up: Arc<AtomicI64>,
}

impl Waiters {
    /// Registers (or refreshes) a watcher that has read everything up to `after`.
    fn register(
        &self,
        id: u64,
        prefix: &Bytes,
        after: Revision,
        caught_up: &Arc<AtomicI64>,
        waker: &Waker,
    ) {
        let mut waiting = self.waiting.lock();
        caught_up.fetch_max(after, Ordering::SeqCst);
        match waiting.iter_mut().find(|w| w.id == id) {
            Some(w) => {
                if !w.waker.will_wake(waker) {
                    w.waker = waker.clone();
                }
            }
            None => waiting.push(Waiting {
                id,
                prefix: prefix.clone(),
                waker: waker.clone(),
                caught_up: caught_up.clone(),
            }),
        }
        self.any.store(true, Ordering::SeqCst);
    }

    /// Forgets a watcher (it is gone).
    fn remove(&self, id: u64) {
        let mut waiting = self.waiting.lock();
        waiting.retain(|w| w.id != id);
        self.any.store(!waiting.is_empty(), Ordering::SeqCst);
    }

    /// After the write of `keys` took the revision from `before` to `after`: returns the
    /// wakers of the watchers under one of the keys (to wake once the store's lock is
    /// released) and moves the others on to `after`. Called with the state's write lock
    /// held, so that writes are seen in order.
    fn written<'k>(
        &self,
        keys: &(impl Iterator<Item = &'k [u8]> + Clone),
        before: Revision,
        after: Revision,
    ) -> Vec<Waker> {
        if !self.any.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let mut waiting = self.waiting.lock();
        let mut wake = Vec::new();
        waiting.retain(|w| {
            if keys.clone().any(|k| k.starts_with(&w.prefix)) {
                wake.push(w.waker.clone());
                return false;
            }
            // Untouched: caught up with this write if it was with everything before it.
            let _ = w
                .caught_up
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |seen| {
                    (seen >= before).then_some(after)
                });
            true
        });
        self.any.store(!waiting.is_empty(), Ordering::SeqCst);
        wake
    }

    /// Wakes every watcher (a compaction, the store going away).
    fn wake_all(&self) {
        if !self.any.load(Ordering::SeqCst) {
            return;
        }
        let waiting = {
            let mut waiting = self.waiting.lock();
            self.any.store(false, Ordering::SeqCst);
            std::mem::take(&mut *waiting)
        };
        for w in waiting {
            w.waker.wake();
        }
    }
}

/// Everything a store handle, its watchers and its lease task share.
#[derive(Debug)]
pub(crate) struct Shared<P> {
    state: RwLock<Mvcc>,
    /// The current revision, published after each write, for watchers to check without
    /// locking.
    revision: AtomicI64,
    waiters: Waiters,
    /// Numbers the watchers, for the waiter list.
    watchers: AtomicU64,
    /// Wakes the lease expiry task (a new lease, or the store going away).
    lease_wake: Arc<Notify>,
    lease_task: Mutex<Option<JoinHandle<()>>>,
    /// Leases exist (restored from disk) but their expiry task could not start yet for
    /// want of a runtime: the next operation on one starts it.
    lease_task_pending: AtomicBool,
    persist: P,
}

impl<P> Drop for Shared<P> {
    fn drop(&mut self) {
        // Watchers and the lease task hold weak references: wake them so they see the
        // store is gone and end.
        self.lease_wake.notify_one();
        self.waiters.wake_all();
    }
}

/// A handle on the engine; cloning it shares the same store.
#[derive(Debug)]
pub(crate) struct Engine<P> {
    shared: Arc<Shared<P>>,
}

impl<P> Clone for Engine<P> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<P: Persist> Engine<P> {
    /// An engine over a state (empty, or rebuilt from disk) and its persistence.
    pub(crate) fn new(state: Mvcc, persist: P) -> Self {
        let revision = state.revision();
        let has_leases = !state.leases.is_empty();
        let engine = Self {
            shared: Arc::new(Shared {
                state: RwLock::new(state),
                revision: AtomicI64::new(revision),
                waiters: Waiters::default(),
                watchers: AtomicU64::new(0),
                lease_wake: Arc::new(Notify::new()),
                lease_task: Mutex::new(None),
                lease_task_pending: AtomicBool::new(has_leases),
                persist,
            }),
        };
        engine.start_pending_lease_task();
        engine
    }

    /// Starts the expiry task of leases restored from disk, once a runtime is there.
    #[inline]
    fn start_pending_lease_task(&self) {
        if self.shared.lease_task_pending.load(Ordering::Relaxed)
            && self.ensure_lease_task().is_ok()
        {
            self.shared
                .lease_task_pending
                .store(false, Ordering::Relaxed);
        }
    }

    /// Runs a write under the lock, then publishes the revision and wakes watchers.
    #[inline]
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Mvcc, &P) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.start_pending_lease_task();
        let shared = &*self.shared;
        let mut state = shared.state.write();
        let before = state.revision();
        let result = f(&mut state, &shared.persist);
        let after = state.revision();
        let mut wake = Vec::new();
        if after != before {
            // Published before the waiters are looked at: a watcher registers, then reads
            // the revision; either it reads this one (and scans), or its registration is
            // there for `written` to see.
            shared.revision.store(after, Ordering::SeqCst);
            wake = shared
                .waiters
                .written(&state.keys_after(before), before, after);
            self.auto_compact(&mut state);
        }
        drop(state);
        for waker in wake {
            waker.wake();
        }
        result
    }

    /// Compacts by the retention rules if due (called with the write lock held).
    fn auto_compact(&self, state: &mut Mvcc) {
        let now = Instant::now();
        let Some(target) = state.retention_target(now) else {
            return;
        };
        if P::ENABLED {
            if let Err(err) = self
                .shared
                .persist
                .commit(&[Record::Compact { revision: target }])
            {
                tracing::warn!(revision = target, error = %err, "automatic compaction failed");
                return;
            }
        }
        state.apply_compact(target);
    }

    /// The latest value of a key.
    pub(crate) fn get(&self, key: &[u8]) -> Option<KeyValue> {
        self.start_pending_lease_task();
        self.shared.state.read().get(key)
    }

    /// A range read.
    pub(crate) fn range(&self, request: &RangeRequest) -> Result<RangeResponse, StoreError> {
        self.start_pending_lease_task();
        self.shared.state.read().range(request)
    }

    /// Creates a key.
    pub(crate) fn create(
        &self,
        key: Bytes,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> Result<KeyValue, StoreError> {
        self.write(|state, persist| {
            let revision = state.check_create(&key, lease)?;
            if P::ENABLED {
                persist.commit(&[Record::Put {
                    revision,
                    key: &key,
                    value: &value,
                    lease,
                }])?;
            }
            Ok(state.apply_create(key, value, lease))
        })
    }

    /// Compare-and-swap update.
    pub(crate) fn update(
        &self,
        key: &[u8],
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        self.write(|state, persist| state.update(persist, key, value, expected))
    }

    /// Deletes a key, guarded by its expected revision when given.
    pub(crate) fn delete(
        &self,
        key: &[u8],
        expected: Option<Revision>,
    ) -> Result<KeyValue, StoreError> {
        self.write(|state, persist| {
            state.check_delete(key, expected)?;
            if P::ENABLED {
                persist.commit(&[Record::Delete {
                    revision: state.revision() + 1,
                    key,
                }])?;
            }
            state.apply_delete(key).ok_or(StoreError::NotFound)
        })
    }

    /// The current revision.
    pub(crate) fn current_revision(&self) -> Revision {
        self.shared.revision.load(Ordering::SeqCst)
    }

    /// The compacted revision.
    pub(crate) fn compacted_revision(&self) -> Revision {
        self.shared.state.read().compacted()
    }

    /// Explicit compaction.
    pub(crate) fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut state = self.shared.state.write();
        let Some(target) = state.check_compact(revision)? else {
            return Ok(());
        };
        if P::ENABLED {
            self.shared
                .persist
                .commit(&[Record::Compact { revision: target }])?;
        }
        state.apply_compact(target);
        drop(state);
        // Watchers behind the compaction must learn they are.
        self.shared.waiters.wake_all();
        Ok(())
    }

    /// A watch of every change under `prefix` after `after`.
    pub(crate) fn watch(&self, prefix: Bytes, after: Revision) -> Result<WatchStream, StoreError> {
        if after < 0 {
            return Err(StoreError::InvalidRequest(format!(
                "negative revision {after}"
            )));
        }
        {
            let state = self.shared.state.read();
            if after > state.revision() {
                return Err(StoreError::FutureRevision {
                    requested: after,
                    current: state.revision(),
                });
            }
            if after < state.compacted() {
                return Err(StoreError::Compacted {
                    requested: after,
                    compacted: state.compacted(),
                });
            }
        }
        Ok(Box::pin(Watcher {
            id: self.shared.watchers.fetch_add(1, Ordering::Relaxed),
            shared: Arc::downgrade(&self.shared),
            prefix,
            after,
            caught_up: Arc::new(AtomicI64::new(after)),
            buffer: VecDeque::new(),
            done: false,
        }))
    }

    /// Grants a lease; starts the expiry task if needed.
    pub(crate) fn grant_lease(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        if ttl.is_zero() {
            return Err(StoreError::InvalidRequest(
                "a lease needs a TTL above zero".to_owned(),
            ));
        }
        self.ensure_lease_task()?;
        let id = {
            let mut state = self.shared.state.write();
            let id = state.next_lease;
            if P::ENABLED {
                self.shared
                    .persist
                    .commit(&[Record::GrantLease { id, ttl }])?;
            }
            state.grant_lease(ttl, Instant::now())
        };
        self.shared.lease_wake.notify_one();
        Ok(id)
    }

    /// Renews a lease for a full TTL.
    pub(crate) fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError> {
        self.ensure_lease_task()?;
        let mut state = self.shared.state.write();
        let entry = state
            .leases
            .get_mut(&lease)
            .ok_or(StoreError::LeaseNotFound(lease))?;
        entry.deadline = Instant::now() + entry.ttl;
        Ok(())
    }

    /// Revokes a lease, deleting its keys (each delete a revision of its own).
    pub(crate) fn revoke_lease(&self, lease: LeaseId) -> Result<(), StoreError> {
        self.write(|state, persist| Self::revoke_locked(state, persist, lease))
    }

    fn revoke_locked(state: &mut Mvcc, persist: &P, lease: LeaseId) -> Result<(), StoreError> {
        let keys: Vec<Bytes> = state
            .leases
            .get(&lease)
            .ok_or(StoreError::LeaseNotFound(lease))?
            .keys
            .iter()
            .cloned()
            .collect();
        if P::ENABLED {
            let first = state.revision() + 1;
            let mut records: Vec<Record<'_>> = keys
                .iter()
                .zip(first..)
                .map(|(key, revision)| Record::Delete { revision, key })
                .collect();
            records.push(Record::RevokeLease { id: lease });
            persist.commit(&records)?;
        }
        for key in &keys {
            state.apply_delete(key);
        }
        state.leases.remove(&lease);
        Ok(())
    }

    /// Revokes the expired leases; returns the next deadline.
    fn expire_leases(&self) -> Option<Instant> {
        let now = Instant::now();
        let expired = self.shared.state.read().expired_leases(now);
        for lease in expired {
            let result = self.write(|state, persist| {
                // Kept alive meanwhile?
                match state.leases.get(&lease) {
                    Some(entry) if entry.deadline <= now => {
                        Self::revoke_locked(state, persist, lease)
                    }
                    _ => Ok(()),
                }
            });
            if let Err(err) = result {
                tracing::warn!(lease, error = %err, "expiring a lease failed; retrying soon");
                return Some(now + Duration::from_millis(100));
            }
        }
        self.shared.state.read().next_deadline()
    }

    /// Starts the lease expiry task unless it runs: leases need a tokio runtime.
    fn ensure_lease_task(&self) -> Result<(), StoreError> {
        let mut task = self.shared.lease_task.lock();
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return Ok(());
        }
        let handle = tokio::runtime::Handle::try_current().map_err(|err| {
            StoreError::unavailable("leases expire on a tokio runtime, and none is running", err)
        })?;
        let weak = Arc::downgrade(&self.shared);
        let wake = Arc::clone(&self.shared.lease_wake);
        *task = Some(handle.spawn(expiry_loop(weak, wake)));
        Ok(())
    }
}

/// Expires leases at their deadlines, until the store goes away.
async fn expiry_loop<P: Persist>(shared: Weak<Shared<P>>, wake: Arc<Notify>) {
    loop {
        let next = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            Engine { shared }.expire_leases()
        };
        match next {
            Some(deadline) => {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline.into()) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

/// A watch: reads the shared event log from its position.
struct Watcher<P: Persist> {
    /// Its name in the waiter list.
    id: u64,
    shared: Weak<Shared<P>>,
    prefix: Bytes,
    /// The revision of the last event looked at.
    after: Revision,
    /// How far writes elsewhere have moved it on while it waited.
    caught_up: Arc<AtomicI64>,
    buffer: VecDeque<StoreEvent>,
    done: bool,
}

impl<P: Persist> Drop for Watcher<P> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.waiters.remove(self.id);
        }
    }
}

impl<P: Persist> Stream for Watcher<P> {
    type Item = Result<StoreEvent, StoreError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(event) = this.buffer.pop_front() {
            return Poll::Ready(Some(Ok(event)));
        }
        if this.done {
            return Poll::Ready(None);
        }
        let Some(shared) = this.shared.upgrade() else {
            this.done = true;
            return Poll::Ready(None);
        };
        let mut registered = false;
        loop {
            this.after = this.after.max(this.caught_up.load(Ordering::SeqCst));
            if shared.revision.load(Ordering::SeqCst) > this.after {
                let scanned = {
                    let state = shared.state.read();
                    state.events_after(
                        &this.prefix,
                        this.after,
                        WATCH_BATCH,
                        WATCH_SCAN,
                        &mut this.buffer,
                    )
                };
                match scanned {
                    Ok(last) => this.after = last,
                    Err(err) => {
                        this.done = true;
                        return Poll::Ready(Some(Err(err)));
                    }
                }
                if let Some(event) = this.buffer.pop_front() {
                    return Poll::Ready(Some(Ok(event)));
                }
                if shared.revision.load(Ordering::SeqCst) > this.after {
                    // A batch with nothing for us and more to read: yield, then go on.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
            if registered {
                // Even with nothing new, a compaction may have passed us by.
                let state = shared.state.read();
                if this.after < state.compacted() {
                    this.done = true;
                    return Poll::Ready(Some(Err(StoreError::Compacted {
                        requested: this.after,
                        compacted: state.compacted(),
                    })));
                }
                return Poll::Pending;
            }
            shared.waiters.register(
                this.id,
                &this.prefix,
                this.after,
                &this.caught_up,
                cx.waker(),
            );
            registered = true;
        }
    }
}
