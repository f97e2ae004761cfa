//! [`WorkQueue`]: the keys controllers work on, as client-go's rate-limited work queue.
//!
//! - **Deduplication**: a key added while it waits is not added twice.
//! - **One worker per key**: a key handed to a worker is *processing* until
//!   [`WorkQueue::done`]; if it is added meanwhile it waits, and goes back in the queue
//!   when the worker is done. So one key never runs on two workers at once, and a change
//!   during a reconcile is never lost.
//! - **Delays**: [`WorkQueue::add_after`] adds a key later (a key waiting twice keeps the
//!   earlier time); [`WorkQueue::add_rate_limited`] adds it after the [`RateLimiter`]'s
//!   delay, and [`WorkQueue::forget`] resets that key's backoff.
//! - **Shutdown**: after [`WorkQueue::shut_down`], adds are ignored and [`WorkQueue::get`]
//!   returns `None`; keys being processed finish.
//!
//! The bookkeeping lives in `QueueState`, which is synchronous and takes the time as an
//! argument, so that its invariants are property-tested without a clock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::metrics::ControllerMetrics;
use super::rate_limiter::{RateLimiter, RateLimiterConfig};

/// The synchronous state of a work queue.
#[derive(Debug)]
pub(crate) struct QueueState<T> {
    /// Keys ready to hand out, in order; never a key that is processing.
    queue: VecDeque<T>,
    /// Keys that need processing: queued, or processing and added again.
    dirty: HashSet<T>,
    /// Keys handed to a worker and not done yet.
    processing: HashSet<T>,
    /// When each delayed key becomes ready (its earliest time).
    waiting: HashMap<T, Instant>,
    /// The delayed keys by time; entries whose time is no longer in `waiting` are stale.
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    heap_keys: HashMap<u64, T>,
    seq: u64,
    shutting_down: bool,
}

impl<T: Clone + Eq + Hash> Default for QueueState<T> {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            dirty: HashSet::new(),
            processing: HashSet::new(),
            waiting: HashMap::new(),
            heap: BinaryHeap::new(),
            heap_keys: HashMap::new(),
            seq: 0,
            shutting_down: false,
        }
    }
}

impl<T: Clone + Eq + Hash> QueueState<T> {
    /// Adds a key now. Returns true when it was not already pending.
    pub(crate) fn add(&mut self, key: T) -> bool {
        if self.shutting_down || self.dirty.contains(&key) {
            return false;
        }
        self.dirty.insert(key.clone());
        if !self.processing.contains(&key) {
            self.queue.push_back(key);
        }
        true
    }

    /// Adds a key at `ready` (now if that has passed). Returns true when it was added now.
    pub(crate) fn add_at(&mut self, key: T, ready: Instant, now: Instant) -> bool {
        if self.shutting_down {
            return false;
        }
        if ready <= now {
            return self.add(key);
        }
        match self.waiting.get(&key) {
            Some(existing) if *existing <= ready => {}
            _ => {
                self.waiting.insert(key.clone(), ready);
                self.seq += 1;
                self.heap.push(Reverse((ready, self.seq)));
                self.heap_keys.insert(self.seq, key);
            }
        }
        false
    }

    /// Moves every delayed key whose time has come into the queue.
    pub(crate) fn promote(&mut self, now: Instant) {
        while let Some(Reverse((ready, seq))) = self.heap.peek().copied() {
            if ready > now {
                break;
            }
            self.heap.pop();
            let Some(key) = self.heap_keys.remove(&seq) else {
                continue;
            };
            if self.waiting.get(&key) == Some(&ready) {
                self.waiting.remove(&key);
                self.add(key);
            }
        }
    }

    /// The time the next delayed key becomes ready.
    pub(crate) fn next_ready(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Hands out the next key, which is processing until [`QueueState::done`].
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.shutting_down {
            return None;
        }
        let key = self.queue.pop_front()?;
        self.dirty.remove(&key);
        self.processing.insert(key.clone());
        Some(key)
    }

    /// Marks a key as no longer processing; if it was added meanwhile, it is queued again.
    pub(crate) fn done(&mut self, key: &T) {
        self.processing.remove(key);
        if self.dirty.contains(key) && !self.shutting_down {
            self.queue.push_back(key.clone());
        }
    }

    pub(crate) fn shut_down(&mut self) {
        self.shutting_down = true;
        self.queue.clear();
        self.dirty.clear();
        self.waiting.clear();
        self.heap.clear();
        self.heap_keys.clear();
    }

    /// Keys ready to hand out.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Keys handed out and not done.
    pub(crate) fn processing_len(&self) -> usize {
        self.processing.len()
    }

    #[cfg(test)]
    fn check_invariants(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        for k in &self.queue {
            if !seen.insert(k) {
                return Err("a key is queued twice".into());
            }
            if self.processing.contains(k) {
                return Err("a processing key is queued".into());
            }
            if !self.dirty.contains(k) {
                return Err("a queued key is not dirty".into());
            }
        }
        for k in &self.dirty {
            if !self.processing.contains(k) && !seen.contains(k) {
                return Err("a dirty key is neither queued nor processing".into());
            }
        }
        Ok(())
    }
}

struct Inner<T> {
    state: Mutex<QueueState<T>>,
    notify: Notify,
    limiter: RateLimiter<T>,
    metrics: Option<Arc<ControllerMetrics>>,
}

/// A rate-limited work queue of keys; see the [module docs](self). Cheap to clone.
pub struct WorkQueue<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for WorkQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("WorkQueue")
            .field("queued", &state.queue.len())
            .field("processing", &state.processing.len())
            .field("delayed", &state.waiting.len())
            .field("shutting_down", &state.shutting_down)
            .finish()
    }
}

impl<T: Clone + Eq + Hash + Send + Sync + 'static> WorkQueue<T> {
    /// A queue whose retries follow this rate limiter.
    pub fn new(limiter: RateLimiterConfig) -> Self {
        Self::build(limiter, None)
    }

    pub(crate) fn with_metrics(
        limiter: RateLimiterConfig,
        metrics: Arc<ControllerMetrics>,
    ) -> Self {
        Self::build(limiter, Some(metrics))
    }

    fn build(limiter: RateLimiterConfig, metrics: Option<Arc<ControllerMetrics>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(QueueState::default()),
                notify: Notify::new(),
                limiter: RateLimiter::new(limiter),
                metrics,
            }),
        }
    }

    fn after_change(&self, state: &QueueState<T>, added: bool) {
        if let Some(m) = &self.inner.metrics {
            if added {
                m.added();
            }
            m.set_depth(state.len());
        }
    }

    /// Adds a key now (nothing happens if it is already waiting).
    pub fn add(&self, key: T) {
        let mut state = self.inner.state.lock();
        let added = state.add(key);
        self.after_change(&state, added);
        drop(state);
        if added {
            self.inner.notify.notify_one();
        }
    }

    /// Adds a key after `delay`.
    pub fn add_after(&self, key: T, delay: Duration) {
        let now = Instant::now();
        let mut state = self.inner.state.lock();
        let added = state.add_at(key, now + delay, now);
        self.after_change(&state, added);
        drop(state);
        // Wake a worker either way: a new earliest delay shortens its sleep.
        self.inner.notify.notify_one();
    }

    /// Adds a key after its rate-limited delay, counting one more failure for it.
    pub fn add_rate_limited(&self, key: T) {
        let delay = self.inner.limiter.when(&key);
        if let Some(m) = &self.inner.metrics {
            m.retried();
        }
        self.add_after(key, delay);
    }

    /// Resets a key's failures.
    pub fn forget(&self, key: &T) {
        self.inner.limiter.forget(key);
    }

    /// How many times in a row the key failed.
    pub fn failures(&self, key: &T) -> u32 {
        self.inner.limiter.failures(key)
    }

    /// Waits for the next key; `None` once the queue is shut down. The key is processing
    /// until [`WorkQueue::done`].
    pub async fn get(&self) -> Option<T> {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let deadline = {
                let mut state = self.inner.state.lock();
                state.promote(Instant::now());
                if let Some(key) = state.pop() {
                    let more = state.len() > 0;
                    self.after_change(&state, false);
                    drop(state);
                    if more {
                        // Another worker may take the rest.
                        self.inner.notify.notify_one();
                    }
                    return Some(key);
                }
                if state.shutting_down {
                    return None;
                }
                state.next_ready()
            };
            match deadline {
                Some(at) => {
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Marks a key handed out by [`WorkQueue::get`] as done.
    pub fn done(&self, key: &T) {
        let mut state = self.inner.state.lock();
        state.done(key);
        let requeued = state.len() > 0;
        self.after_change(&state, false);
        drop(state);
        if requeued {
            self.inner.notify.notify_one();
        }
    }

    /// Stops the queue: adds are ignored, waiting keys dropped, and every `get` returns
    /// `None`.
    pub fn shut_down(&self) {
        self.inner.state.lock().shut_down();
        self.inner.notify.notify_waiters();
        // A worker between its check and its wait holds a permit from `enable`; wake
        // everyone that comes later too.
        self.inner.notify.notify_one();
    }

    /// True once [`WorkQueue::shut_down`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.state.lock().shutting_down
    }

    /// Keys ready to hand out now.
    pub fn len(&self) -> usize {
        self.inner.state.lock().len()
    }

    /// True when no key is ready to hand out.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys handed out and not done yet.
    pub fn processing(&self) -> usize {
        self.inner.state.lock().processing_len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Add(u8),
        AddAfter(u8, u16),
        Get,
        Done(usize),
        Advance(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..8).prop_map(Op::Add),
            2 => (0u8..8, 1u16..500).prop_map(|(k, ms)| Op::AddAfter(k, ms)),
            4 => Just(Op::Get),
            3 => (0usize..8).prop_map(Op::Done),
            1 => (1u16..600).prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// Whatever happens: no key is queued twice, a key is never handed out while it is
        /// processing, and every key added (now or later) after it was last handed out is
        /// handed out again once the workers finish and time passes.
        #[test]
        fn queue_invariants(ops in proptest::collection::vec(op(), 1..200)) {
            let mut q: QueueState<u8> = QueueState::default();
            let mut now = Instant::now();
            let mut processing: Vec<u8> = Vec::new();
            // Keys that must still be handed out: added since they were last handed out.
            let mut owed: BTreeSet<u8> = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Add(k) => {
                        q.add(k);
                        owed.insert(k);
                    }
                    Op::AddAfter(k, ms) => {
                        q.add_at(k, now + Duration::from_millis(u64::from(ms)), now);
                        owed.insert(k);
                    }
                    Op::Get => {
                        q.promote(now);
                        if let Some(k) = q.pop() {
                            prop_assert!(!processing.contains(&k), "{k} handed out twice");
                            processing.push(k);
                            // A delayed add of k may still be pending; it stays owed then.
                            if !q.waiting.contains_key(&k) {
                                owed.remove(&k);
                            }
                        }
                    }
                    Op::Done(i) => {
                        if !processing.is_empty() {
                            let k = processing.remove(i % processing.len());
                            q.done(&k);
                        }
                    }
                    Op::Advance(ms) => now += Duration::from_millis(u64::from(ms)),
                }
                q.check_invariants().map_err(TestCaseError::fail)?;
                prop_assert!(q.len() <= 8);
            }
            // Drain: finish every worker, let every delay pass, hand everything out.
            for k in processing.drain(..) {
                q.done(&k);
            }
            now += Duration::from_secs(3600);
            q.promote(now);
            let mut handed = BTreeSet::new();
            while let Some(k) = q.pop() {
                prop_assert!(handed.insert(k), "{k} handed out twice while draining");
                q.done(&k);
            }
            prop_assert!(owed.is_subset(&handed), "owed {owed:?}, handed {handed:?}");
        }
    }

    #[test]
    fn delayed_keys_keep_their_earliest_time() {
        let mut q: QueueState<&str> = QueueState::default();
        let now = Instant::now();
        q.add_at("a", now + Duration::from_secs(10), now);
        q.add_at("a", now + Duration::from_secs(5), now);
        q.add_at("a", now + Duration::from_secs(20), now);
        q.promote(now + Duration::from_secs(6));
        assert_eq!(q.pop(), Some("a"));
        q.done(&"a");
        q.promote(now + Duration::from_secs(30));
        assert_eq!(
            q.pop(),
            None,
            "the later times were folded into the earliest"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_added_while_processing_waits_for_done() {
        let q: WorkQueue<&str> = WorkQueue::new(RateLimiterConfig::default());
        q.add("a");
        q.add("a");
        assert_eq!(q.len(), 1);
        let k = q.get().await.unwrap();
        q.add("a");
        assert_eq!(q.len(), 0, "not queued while processing");
        let second = tokio::spawn({
            let q = q.clone();
            async move { q.get().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!second.is_finished());
        q.done(&k);
        assert_eq!(second.await.unwrap(), Some("a"));
    }

    #[tokio::test(start_paused = true)]
    async fn delays_and_rate_limits_wake_workers() {
        let q: WorkQueue<&str> = WorkQueue::new(RateLimiterConfig::default());
        let start = Instant::now();
        q.add_after("later", Duration::from_secs(30));
        assert_eq!(q.get().await, Some("later"));
        assert!(start.elapsed() >= Duration::from_secs(30));
        q.done(&"later");

        let start = Instant::now();
        q.add_rate_limited("flaky");
        assert_eq!(q.get().await, Some("flaky"));
        q.done(&"flaky");
        q.add_rate_limited("flaky");
        assert_eq!(q.get().await, Some("flaky"));
        q.done(&"flaky");
        assert_eq!(q.failures(&"flaky"), 2);
        assert!(start.elapsed() >= Duration::from_millis(15));
        q.forget(&"flaky");
        assert_eq!(q.failures(&"flaky"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_releases_every_waiting_worker() {
        let q: WorkQueue<u32> = WorkQueue::new(RateLimiterConfig::default());
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let q = q.clone();
                tokio::spawn(async move { q.get().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1)).await;
        q.add_after(1, Duration::from_secs(100));
        q.shut_down();
        for w in workers {
            assert_eq!(w.await.unwrap(), None);
        }
        q.add(2);
        assert!(q.is_empty() && q.is_shut_down());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_workers_never_share_a_key() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let q: WorkQueue<u32> = WorkQueue::new(RateLimiterConfig::default());
        let busy: Arc<Mutex<HashSet<u32>>> = Arc::default();
        let handled = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (q, busy, handled) = (q.clone(), busy.clone(), handled.clone());
                tokio::spawn(async move {
                    while let Some(k) = q.get().await {
                        assert!(busy.lock().insert(k), "key {k} on two workers");
                        tokio::task::yield_now().await;
                        busy.lock().remove(&k);
                        handled.fetch_add(1, Ordering::Relaxed);
                        q.done(&k);
                    }
                })
            })
            .collect();
        for round in 0..200u32 {
            q.add(round % 7);
            if round % 10 == 0 {
                tokio::task::yield_now().await;
            }
        }
        // Wait until everything settled, then stop.
        for _ in 0..1000 {
            if q.is_empty() && q.processing() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        q.shut_down();
        for w in workers {
            w.await.unwrap();
        }
        assert!(handled.load(Ordering::Relaxed) >= 7);
    }
}
