//! The scheduling queue: an active queue ordered by priority then creation time, a backoff
//! queue with exponential delays, and a pool of unschedulable pods that cluster events move
//! back.
//!
//! The queue never reads a clock: every method that depends on time takes `now`, so tests
//! drive it with fabricated instants and the loop passes `Instant::now()`.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_core::{ObjectKey, PodInfo};

use crate::events::ClusterEvent;

/// Settings of a [`SchedulingQueue`].
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// Backoff after the first failed attempt (Kubernetes: 1 s).
    pub initial_backoff: Duration,
    /// The longest backoff (Kubernetes: 10 s).
    pub max_backoff: Duration,
    /// How long a pod may stay unschedulable before it is retried anyway (Kubernetes: 5 min).
    pub max_unschedulable_duration: Duration,
    /// When the active queue is empty, take a pod from the backoff queue before its
    /// backoff ends, if a cluster event moved it there (not a failure of its own): an
    /// idle scheduler has no reason to wait (Kubernetes: `SchedulerPopFromBackoffQ`, on
    /// by default since 1.33). Pods backing off after an error always wait it out.
    pub pop_from_backoff_when_idle: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_unschedulable_duration: Duration::from_secs(300),
            pop_from_backoff_when_idle: true,
        }
    }
}

impl QueueConfig {
    /// The backoff after `attempts` failed attempts: `initial * 2^(attempts-1)`, capped at
    /// `max_backoff`; zero before any attempt.
    pub fn backoff(&self, attempts: u32) -> Duration {
        if attempts == 0 {
            return Duration::ZERO;
        }
        let shift = (attempts - 1).min(31);
        self.initial_backoff
            .checked_mul(1u32 << shift)
            .map_or(self.max_backoff, |d| d.min(self.max_backoff))
    }
}

/// A pod in the queue, with its scheduling history.
#[derive(Clone, Debug)]
pub struct QueuedPod {
    /// The pod and what was derived from it.
    pub info: Arc<PodInfo>,
    /// Failed scheduling attempts so far.
    pub attempts: u32,
    /// When the pod last entered the queue (after a failure: when it failed).
    pub timestamp: Instant,
    /// The plugins that rejected the pod in its last attempt: only events those plugins care
    /// about move it back to the active queue.
    pub unschedulable_plugins: HashSet<String>,
    seq: u64,
}

impl QueuedPod {
    fn key(&self) -> &ObjectKey {
        self.info.key()
    }
}

type ActiveKey = (Reverse<i32>, i64, u64);

#[derive(Debug)]
enum Place {
    Active(ActiveKey),
    Backoff(Instant, u64),
    Unschedulable,
    InFlight,
}

/// The three pools of pods waiting to be scheduled.
///
/// - **active**: pops the highest priority first, then the oldest by creation time, then
///   the first added;
/// - **backoff**: pods that failed and wait `1 s * 2^(attempts-1)` (at most 10 s) before
///   they return to active;
/// - **unschedulable**: pods that no node fits; [`SchedulingQueue::on_event`] moves them
///   back when a cluster event could make them fit, and they are retried anyway after
///   [`QueueConfig::max_unschedulable_duration`].
///
/// A popped pod is *in flight* until [`SchedulingQueue::done`] or
/// [`SchedulingQueue::requeue_unschedulable`]; events that arrive meanwhile send it to
/// backoff instead of unschedulable when it fails, since they may have made it fit.
#[derive(Debug)]
pub struct SchedulingQueue {
    config: QueueConfig,
    pods: HashMap<ObjectKey, (QueuedPod, Place)>,
    active: BTreeSet<(ActiveKey, ObjectKey)>,
    backoff: BTreeSet<(Instant, u64, ObjectKey)>,
    unschedulable: HashSet<ObjectKey>,
    seq: u64,
    /// Bumped by every event that moves pods; a pod failing in a cycle that started before
    /// the last move goes to backoff rather than unschedulable.
    move_cycle: u64,
    cycle: u64,
    popped_cycle: HashMap<ObjectKey, u64>,
    /// When the unschedulable pool is next scanned for pods waiting too long: at most
    /// once a second, not at every pop (the pool can hold thousands of pods).
    next_stale_scan: Option<Instant>,
}

/// How often the unschedulable pool is scanned for pods waiting too long.
const STALE_SCAN_INTERVAL: Duration = Duration::from_secs(1);

impl SchedulingQueue {
    /// An empty queue.
    pub fn new(config: QueueConfig) -> Self {
        Self {
            config,
            pods: HashMap::new(),
            active: BTreeSet::new(),
            backoff: BTreeSet::new(),
            unschedulable: HashSet::new(),
            seq: 0,
            move_cycle: 0,
            cycle: 0,
            popped_cycle: HashMap::new(),
            next_stale_scan: None,
        }
    }

    /// The queue's settings.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Number of pods held, in any pool or in flight.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// True when no pod is held.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// True when the queue holds the pod (in any pool, or in flight).
    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.pods.contains_key(key)
    }

    /// Pods in the active queue.
    pub fn active_len(&self) -> usize {
        self.active.len()
    }

    /// Pods waiting out a backoff.
    pub fn backoff_len(&self) -> usize {
        self.backoff.len()
    }

    /// Pods no node fits, waiting for a cluster event.
    pub fn unschedulable_len(&self) -> usize {
        self.unschedulable.len()
    }

    /// Adds a new pending pod to the active queue. A pod already held is updated instead.
    pub fn add(&mut self, info: Arc<PodInfo>, now: Instant) {
        if self.pods.contains_key(info.key()) {
            self.update(info, now);
            return;
        }
        self.seq += 1;
        let queued = QueuedPod {
            info,
            attempts: 0,
            timestamp: now,
            unschedulable_plugins: HashSet::new(),
            seq: self.seq,
        };
        self.push_active(queued);
    }

    /// A pending pod changed: the new object replaces the old one. An unschedulable pod
    /// whose spec changed is retried (after its backoff).
    pub fn update(&mut self, info: Arc<PodInfo>, now: Instant) {
        let Some((queued, place)) = self.pods.remove(info.key()) else {
            self.add(info, now);
            return;
        };
        self.unlink(queued.key(), &place);
        let spec_changed = queued.info.pod().spec != info.pod().spec;
        let mut queued = QueuedPod { info, ..queued };
        match place {
            Place::Active(_) => self.push_active(queued),
            Place::Backoff(..) => self.push_backoff(queued),
            Place::InFlight => {
                let key = queued.key().clone();
                self.pods.insert(key, (queued, Place::InFlight));
            }
            Place::Unschedulable if spec_changed => {
                queued.unschedulable_plugins.clear();
                self.move_out_of_unschedulable(queued, now);
            }
            Place::Unschedulable => {
                let key = queued.key().clone();
                self.unschedulable.insert(key.clone());
                self.pods.insert(key, (queued, Place::Unschedulable));
            }
        }
    }

    /// The pod was deleted, or bound by someone else: it leaves the queue.
    pub fn delete(&mut self, key: &ObjectKey) -> Option<QueuedPod> {
        let (queued, place) = self.pods.remove(key)?;
        self.unlink(key, &place);
        self.popped_cycle.remove(key);
        Some(queued)
    }

    /// Moves pods whose backoff expired to the active queue, and pods unschedulable for
    /// longer than the configured limit back to the queue (checked at most once a
    /// second).
    pub fn flush(&mut self, now: Instant) {
        while let Some((at, _, _)) = self.backoff.first() {
            if *at > now {
                break;
            }
            let Some((_, _, key)) = self.backoff.pop_first() else {
                break;
            };
            if let Some((queued, _)) = self.pods.remove(&key) {
                self.push_active(queued);
            }
        }
        if self.next_stale_scan.is_some_and(|at| now < at) {
            return;
        }
        self.next_stale_scan = Some(now + STALE_SCAN_INTERVAL);
        let limit = self.config.max_unschedulable_duration;
        let stale: Vec<ObjectKey> = self
            .unschedulable
            .iter()
            .filter(|k| {
                self.pods
                    .get(*k)
                    .is_some_and(|(q, _)| now.saturating_duration_since(q.timestamp) >= limit)
            })
            .cloned()
            .collect();
        for key in stale {
            self.unschedulable.remove(&key);
            if let Some((queued, _)) = self.pods.remove(&key) {
                self.move_out_of_unschedulable(queued, now);
            }
        }
    }

    /// Takes the next pod to schedule: the highest priority, then the oldest, in the active
    /// queue, after moving expired backoffs in. `None` when the active queue is empty.
    pub fn pop(&mut self, now: Instant) -> Option<QueuedPod> {
        self.flush(now);
        let key = match self.active.pop_first() {
            Some((_, key)) => key,
            None => self.pop_backoff_early()?,
        };
        let (queued, _) = self.pods.get_mut(&key)?;
        let queued = queued.clone();
        if let Some(entry) = self.pods.get_mut(&key) {
            entry.1 = Place::InFlight;
        }
        self.cycle += 1;
        self.popped_cycle.insert(key, self.cycle);
        Some(queued)
    }

    /// Takes, when allowed, the backing-off pod that an event moved and whose backoff ends
    /// first.
    fn pop_backoff_early(&mut self) -> Option<ObjectKey> {
        if !self.config.pop_from_backoff_when_idle {
            return None;
        }
        let entry = self
            .backoff
            .iter()
            .find(|(_, _, k)| {
                self.pods
                    .get(k)
                    .is_some_and(|(q, _)| !q.unschedulable_plugins.is_empty())
            })
            .cloned()?;
        self.backoff.remove(&entry);
        Some(entry.2)
    }

    /// The earliest instant at which a backoff expires, for the loop to sleep until.
    pub fn next_backoff_expiry(&self) -> Option<Instant> {
        self.backoff.first().map(|(at, _, _)| *at)
    }

    /// The popped pod was scheduled (assumed and sent to bind): it leaves the queue.
    pub fn done(&mut self, key: &ObjectKey) {
        if matches!(self.pods.get(key), Some((_, Place::InFlight))) {
            self.pods.remove(key);
        }
        self.popped_cycle.remove(key);
    }

    /// The popped pod did not fit (or its binding failed): it returns to the queue with one
    /// more attempt. It waits in the unschedulable pool for an event that one of
    /// `plugins` cares about; when such an event arrived while it was being scheduled, or
    /// `plugins` is empty (an error rather than a misfit), it goes to backoff instead.
    pub fn requeue_unschedulable(
        &mut self,
        mut queued: QueuedPod,
        plugins: HashSet<String>,
        now: Instant,
    ) {
        let key = queued.key().clone();
        let popped = self.popped_cycle.remove(&key).unwrap_or(0);
        match self.pods.get(&key) {
            // Deleted while in flight: drop it.
            None => return,
            Some((current, Place::InFlight)) => queued.info = Arc::clone(&current.info),
            // Re-added while in flight (a newer object): keep the newer entry.
            Some(_) => return,
        }
        self.pods.remove(&key);
        queued.attempts += 1;
        queued.timestamp = now;
        queued.unschedulable_plugins = plugins;
        if queued.unschedulable_plugins.is_empty() || self.move_cycle >= popped {
            self.push_backoff(queued);
        } else {
            self.unschedulable.insert(key.clone());
            self.pods.insert(key, (queued, Place::Unschedulable));
        }
    }

    /// A cluster event happened: unschedulable pods rejected by a plugin that registered
    /// interest in it (as reported by `interested`) move to backoff or active. Returns how
    /// many moved.
    pub fn on_event(
        &mut self,
        event: ClusterEvent,
        interested: impl Fn(&str, ClusterEvent) -> bool,
        now: Instant,
    ) -> usize {
        self.move_cycle = self.cycle;
        let moving: Vec<ObjectKey> = self
            .unschedulable
            .iter()
            .filter(|k| {
                self.pods.get(*k).is_some_and(|(q, _)| {
                    q.unschedulable_plugins.is_empty()
                        || q.unschedulable_plugins
                            .iter()
                            .any(|p| interested(p.as_str(), event))
                })
            })
            .cloned()
            .collect();
        for key in &moving {
            self.unschedulable.remove(key);
            if let Some((queued, _)) = self.pods.remove(key) {
                self.move_out_of_unschedulable(queued, now);
            }
        }
        moving.len()
    }

    /// Every pod held, in no particular order (for diagnostics and tests).
    pub fn pods(&self) -> impl Iterator<Item = &QueuedPod> {
        self.pods.values().map(|(q, _)| q)
    }

    fn move_out_of_unschedulable(&mut self, queued: QueuedPod, now: Instant) {
        let ready = queued.timestamp + self.config.backoff(queued.attempts);
        if ready > now {
            self.push_backoff(queued);
        } else {
            self.push_active(queued);
        }
    }

    fn push_active(&mut self, queued: QueuedPod) {
        let created = queued
            .info
            .creation_timestamp()
            .map_or(i64::MIN, |t| t.0.timestamp_micros());
        let k: ActiveKey = (Reverse(queued.info.priority()), created, queued.seq);
        let key = queued.key().clone();
        self.active.insert((k, key.clone()));
        self.pods.insert(key, (queued, Place::Active(k)));
    }

    fn push_backoff(&mut self, queued: QueuedPod) {
        let at = queued.timestamp + self.config.backoff(queued.attempts);
        let key = queued.key().clone();
        let seq = queued.seq;
        self.backoff.insert((at, seq, key.clone()));
        self.pods.insert(key, (queued, Place::Backoff(at, seq)));
    }

    fn unlink(&mut self, key: &ObjectKey, place: &Place) {
        match place {
            Place::Active(k) => {
                self.active.remove(&(*k, key.clone()));
            }
            Place::Backoff(at, seq) => {
                self.backoff.remove(&(*at, *seq, key.clone()));
            }
            Place::Unschedulable => {
                self.unschedulable.remove(key);
            }
            Place::InFlight => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pod;
    use proptest::prelude::*;

    const ALL: fn(&str, ClusterEvent) -> bool = |_, _| true;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::namespaced("default", name)
    }

    fn names(q: &mut SchedulingQueue, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(p) = q.pop(now) {
            out.push(p.info.key().name.clone());
        }
        out
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_ten() {
        let c = QueueConfig::default();
        let got: Vec<u64> = (0..7).map(|a| c.backoff(a).as_millis() as u64).collect();
        assert_eq!(got, [0, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(c.backoff(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn active_pops_by_priority_then_creation_then_arrival() {
        let mut q = SchedulingQueue::new(QueueConfig::default());
        let now = Instant::now();
        q.add(pod("late-low").priority(1).created(50).arc(), now);
        q.add(pod("early-low").priority(1).created(10).arc(), now);
        q.add(pod("high").priority(9).created(90).arc(), now);
        q.add(pod("twin-a").priority(1).created(10).arc(), now);
        assert_eq!(
            names(&mut q, now),
            ["high", "early-low", "twin-a", "late-low"]
        );
    }

    fn strict() -> QueueConfig {
        QueueConfig {
            pop_from_backoff_when_idle: false,
            ..QueueConfig::default()
        }
    }

    #[test]
    fn unschedulable_pods_wait_for_an_event_their_plugins_care_about() {
        let mut q = SchedulingQueue::new(strict());
        let t0 = Instant::now();
        q.add(pod("p").arc(), t0);
        let p = q.pop(t0).unwrap();
        q.requeue_unschedulable(p, HashSet::from(["NodeResourcesFit".to_owned()]), t0);
        assert_eq!(q.unschedulable_len(), 1);
        let fit_cares = |plugin: &str, ev: ClusterEvent| {
            plugin == "NodeResourcesFit" && ev == ClusterEvent::NODE_ADD
        };
        assert_eq!(q.on_event(ClusterEvent::POD_ADD, fit_cares, t0), 0);
        assert_eq!(q.on_event(ClusterEvent::NODE_ADD, fit_cares, t0), 1);
        // Moved, but its backoff (1 s after one failure) still runs.
        assert_eq!(q.backoff_len(), 1);
        assert!(q.pop(t0).is_none());
        assert_eq!(q.next_backoff_expiry(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(names(&mut q, t0 + Duration::from_secs(1)), ["p"]);
    }

    #[test]
    fn an_event_during_the_attempt_sends_the_pod_to_backoff() {
        let mut q = SchedulingQueue::new(strict());
        let t0 = Instant::now();
        q.add(pod("p").arc(), t0);
        let p = q.pop(t0).unwrap();
        // A node appears while the pod is being scheduled: it may fit now.
        q.on_event(ClusterEvent::NODE_ADD, ALL, t0);
        q.requeue_unschedulable(p, HashSet::from(["NodeResourcesFit".to_owned()]), t0);
        assert_eq!((q.unschedulable_len(), q.backoff_len()), (0, 1));
    }

    #[test]
    fn errors_back_off_and_long_unschedulable_pods_are_retried() {
        let mut q = SchedulingQueue::new(strict());
        let t0 = Instant::now();
        q.add(pod("err").arc(), t0);
        q.add(pod("stuck").arc(), t0);
        let a = q.pop(t0).unwrap();
        let b = q.pop(t0).unwrap();
        q.requeue_unschedulable(a, HashSet::new(), t0);
        q.requeue_unschedulable(b, HashSet::from(["X".to_owned()]), t0);
        assert_eq!((q.backoff_len(), q.unschedulable_len()), (1, 1));
        assert_eq!(names(&mut q, t0 + Duration::from_secs(1)), ["err"]);
        assert!(q.pop(t0 + Duration::from_secs(299)).is_none());
        assert_eq!(names(&mut q, t0 + Duration::from_secs(300)), ["stuck"]);
    }

    #[test]
    fn deleted_and_rescheduled_pods_leave_the_queue() {
        let mut q = SchedulingQueue::new(QueueConfig::default());
        let t0 = Instant::now();
        q.add(pod("gone").arc(), t0);
        q.add(pod("bound").arc(), t0);
        q.delete(&key("gone"));
        let b = q.pop(t0).unwrap();
        assert!(q.contains(&key("bound")));
        q.done(b.info.key());
        assert!(q.is_empty());
        // Deleted while in flight: a failure does not bring it back.
        q.add(pod("flight").arc(), t0);
        let f = q.pop(t0).unwrap();
        q.delete(&key("flight"));
        q.requeue_unschedulable(f, HashSet::new(), t0);
        assert!(q.is_empty());
    }

    #[test]
    fn an_idle_queue_takes_pods_an_event_moved_before_their_backoff_ends() {
        let mut q = SchedulingQueue::new(QueueConfig::default());
        let t0 = Instant::now();
        q.add(pod("moved").arc(), t0);
        q.add(pod("failed").arc(), t0);
        let m = q.pop(t0).unwrap();
        let f = q.pop(t0).unwrap();
        q.requeue_unschedulable(m, HashSet::from(["NodeResourcesFit".to_owned()]), t0);
        q.requeue_unschedulable(f, HashSet::new(), t0);
        q.on_event(ClusterEvent::POD_DELETE, ALL, t0);
        assert_eq!(q.backoff_len(), 2);
        // The moved pod goes at once; the one that failed with an error waits.
        assert_eq!(names(&mut q, t0), ["moved"]);
        assert_eq!(names(&mut q, t0 + Duration::from_secs(1)), ["failed"]);
    }

    #[test]
    fn a_spec_change_retries_an_unschedulable_pod() {
        let mut q = SchedulingQueue::new(strict());
        let t0 = Instant::now();
        q.add(pod("p").requests("8", "0").arc(), t0);
        let p = q.pop(t0).unwrap();
        q.requeue_unschedulable(p, HashSet::from(["NodeResourcesFit".to_owned()]), t0);
        // A status-only update keeps it waiting; a smaller request moves it.
        q.update(pod("p").requests("8", "0").arc(), t0);
        assert_eq!(q.unschedulable_len(), 1);
        q.update(pod("p").requests("1", "0").arc(), t0);
        assert_eq!(q.unschedulable_len(), 0);
        let later = t0 + Duration::from_secs(1);
        let again = q.pop(later).unwrap();
        assert_eq!(again.attempts, 1);
        assert_eq!(again.info.requests().milli_cpu, 1000);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Add(u8, i32),
        Pop,
        Fail(bool),
        Bind,
        Event,
        Delete(u8),
        Wait(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..12, -3i32..3).prop_map(|(n, p)| Op::Add(n, p)),
            Just(Op::Pop),
            any::<bool>().prop_map(Op::Fail),
            Just(Op::Bind),
            Just(Op::Event),
            (0u8..12).prop_map(Op::Delete),
            (0u16..12_000).prop_map(Op::Wait),
        ]
    }

    proptest! {
        /// Whatever happens, every pod is in exactly one place, the counts add up, and
        /// the active queue pops in priority order.
        #[test]
        fn every_pod_is_in_exactly_one_place(ops in proptest::collection::vec(op(), 1..200)) {
            let mut q = SchedulingQueue::new(QueueConfig::default());
            let mut now = Instant::now();
            let mut in_flight: Vec<QueuedPod> = Vec::new();
            for op in ops {
                match op {
                    Op::Add(n, p) => q.add(pod(&format!("p{n}")).priority(p).arc(), now),
                    Op::Pop => {
                        let best = q
                            .pods
                            .values()
                            .filter(|(_, place)| matches!(place, Place::Active(_)))
                            .map(|(p, _)| p.info.priority())
                            .max();
                        if let Some(p) = q.pop(now) {
                            // Expired backoffs join first, so the popped pod is at
                            // least as important as any that was active before.
                            prop_assert!(best.is_none_or(|b| p.info.priority() >= b));
                            in_flight.push(p);
                        }
                    }
                    Op::Fail(error) => {
                        if let Some(p) = in_flight.pop() {
                            let plugins = if error {
                                HashSet::new()
                            } else {
                                HashSet::from(["NodeResourcesFit".to_owned()])
                            };
                            q.requeue_unschedulable(p, plugins, now);
                        }
                    }
                    Op::Bind => {
                        if let Some(p) = in_flight.pop() {
                            q.done(p.info.key());
                        }
                    }
                    Op::Event => {
                        q.on_event(ClusterEvent::NODE_ADD, ALL, now);
                    }
                    Op::Delete(n) => {
                        q.delete(&key(&format!("p{n}")));
                    }
                    Op::Wait(ms) => now += Duration::from_millis(u64::from(ms)),
                }
                let flying = q
                    .pods
                    .values()
                    .filter(|(_, place)| matches!(place, Place::InFlight))
                    .count();
                prop_assert_eq!(
                    q.len(),
                    q.active_len() + q.backoff_len() + q.unschedulable_len() + flying
                );
                for (k, (queued, place)) in &q.pods {
                    prop_assert_eq!(queued.info.key(), k);
                    let listed = match place {
                        Place::Active(a) => q.active.contains(&(*a, k.clone())),
                        Place::Backoff(at, seq) => q.backoff.contains(&(*at, *seq, k.clone())),
                        Place::Unschedulable => q.unschedulable.contains(k),
                        Place::InFlight => true,
                    };
                    prop_assert!(listed, "{k} is not where it says it is");
                }
            }
        }
    }
}
