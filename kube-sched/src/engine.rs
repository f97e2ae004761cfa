//! `Engine`: the queue, the node cache, the snapshot, the nominated pods and the scheduling
//! algorithm wired together. It owns what the scheduling loop does between informer events
//! and API calls, without doing any I/O itself: feed it cluster changes, call
//! [`Engine::schedule_next`], run the binding it returns, report the result.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use kube_core::{Decision, Node, ObjectKey, Pod, PodInfo, Scheduler, Snapshot, Unschedulable};

use crate::cache::Cache;
use crate::events::ClusterEvent;
use crate::framework::{
    CycleState, DEFAULT_SCHEDULER_NAME, FrameworkScheduler, NominatedPods, PermitOutcome,
    SummaryTable, scheduler_name,
};
use crate::queue::{QueueConfig, QueuedPod, SchedulingQueue};

/// What chooses the nodes: the framework, with its Reserve, Permit and Bind plugins, or any
/// [`Scheduler`] (a platform's own algorithm), whose answers the loop binds itself.
#[derive(Clone)]
pub enum Algorithm {
    /// The plugin framework.
    Framework(Arc<FrameworkScheduler>),
    /// Any other implementation of [`Scheduler`], serving the pods whose
    /// `spec.schedulerName` is one of `scheduler_names`.
    Custom {
        /// The implementation.
        scheduler: Arc<dyn Scheduler>,
        /// The scheduler names it serves.
        scheduler_names: Vec<String>,
    },
}

impl fmt::Debug for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Framework(fw) => f.debug_tuple("Framework").field(fw).finish(),
            Self::Custom {
                scheduler,
                scheduler_names,
            } => f
                .debug_struct("Custom")
                .field("scheduler", scheduler)
                .field("scheduler_names", scheduler_names)
                .finish(),
        }
    }
}

impl Algorithm {
    /// A custom scheduler serving `default-scheduler`.
    pub fn custom(scheduler: Arc<dyn Scheduler>) -> Self {
        Self::Custom {
            scheduler,
            scheduler_names: vec![DEFAULT_SCHEDULER_NAME.to_owned()],
        }
    }

    /// True when the algorithm serves the pod's `spec.schedulerName`.
    pub fn responsible_for(&self, pod: &PodInfo) -> bool {
        match self {
            Self::Framework(fw) => fw.responsible_for(pod),
            Self::Custom {
                scheduler_names, ..
            } => {
                let name = scheduler_name(pod);
                scheduler_names.iter().any(|n| n == name)
            }
        }
    }

    /// True when `event` may make a pod fit that `plugin` rejected. A custom scheduler's
    /// reasons are opaque: every event may help.
    fn interested(&self, plugin: &str, event: ClusterEvent) -> bool {
        match self {
            Self::Framework(fw) => fw.profiles().any(|p| p.is_interested(plugin, event)),
            Self::Custom { .. } => true,
        }
    }

    fn schedule(
        &self,
        pod: &Arc<PodInfo>,
        snapshot: &Snapshot,
        summaries: &SummaryTable,
        nominated: &NominatedPods,
    ) -> (CycleState, Result<Decision, Unschedulable>) {
        match self {
            Self::Framework(fw) => fw.schedule_summarized(pod, snapshot, summaries, nominated),
            Self::Custom { scheduler, .. } => {
                let result = scheduler.schedule(pod, snapshot).and_then(|d| {
                    if snapshot.get(&d.node).is_some() {
                        Ok(d)
                    } else {
                        Err(Unschedulable::error(
                            snapshot.len(),
                            format!("the scheduler chose node {:?}, which is unknown", d.node),
                        ))
                    }
                });
                (CycleState::new(), result)
            }
        }
    }
}

/// What one scheduling cycle produced.
#[derive(Debug)]
pub enum Outcome {
    /// The pod is assumed on a node: run its binding cycle, then report with
    /// [`Engine::binding_finished`].
    Assumed(Binding),
    /// No node fits; the pod is back in the queue. Write `PodScheduled=False` with
    /// [`Unschedulable::message`], and when a nomination is present set
    /// `status.nominatedNodeName` and evict its victims.
    Unschedulable(Arc<PodInfo>, Box<Unschedulable>),
    /// Reserve or Permit refused the pod; it is back in the queue.
    Rejected(Arc<PodInfo>, crate::Error),
}

/// A pod assumed on a node, waiting for its binding cycle.
#[derive(Debug)]
pub struct Binding {
    /// The pod.
    pub pod: Arc<PodInfo>,
    /// The node it is assumed on.
    pub node: String,
    /// The scheduling cycle's state, for the binding plugins (empty for a custom
    /// scheduler).
    pub state: CycleState,
    /// Permit's verdict (allowed, or a wait); always allowed for a custom scheduler.
    pub permit: PermitOutcome,
    queued: QueuedPod,
}

impl Binding {
    /// Splits the binding into what the binding cycle needs and the queue entry to hand
    /// back to [`Engine::binding_finished`].
    pub fn into_parts(self) -> (Arc<PodInfo>, String, CycleState, PermitOutcome, QueuedPod) {
        (self.pod, self.node, self.state, self.permit, self.queued)
    }
}

/// The scheduler's moving parts, behind one `&mut`: the loop owns it on one thread.
#[derive(Debug)]
pub struct Engine {
    algorithm: Algorithm,
    queue: SchedulingQueue,
    cache: Cache,
    snapshot: Snapshot,
    pub(crate) summaries: SummaryTable,
    changed: Vec<usize>,
    nominated: NominatedPods,
}

fn assigned_node(pod: &Pod) -> Option<&str> {
    pod.spec.node_name.as_deref().filter(|n| !n.is_empty())
}

impl Engine {
    /// An engine around a framework scheduler.
    pub fn new(framework: Arc<FrameworkScheduler>, queue: QueueConfig, cache: Cache) -> Self {
        Self::with_algorithm(Algorithm::Framework(framework), queue, cache)
    }

    /// An engine around any algorithm.
    pub fn with_algorithm(algorithm: Algorithm, queue: QueueConfig, cache: Cache) -> Self {
        Self {
            algorithm,
            queue: SchedulingQueue::new(queue),
            cache,
            snapshot: Snapshot::new(),
            summaries: SummaryTable::default(),
            changed: Vec::new(),
            nominated: NominatedPods::new(),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> &Algorithm {
        &self.algorithm
    }

    /// The framework, when the algorithm is one.
    pub fn framework(&self) -> Option<&Arc<FrameworkScheduler>> {
        match &self.algorithm {
            Algorithm::Framework(fw) => Some(fw),
            Algorithm::Custom { .. } => None,
        }
    }

    /// The queue.
    pub fn queue(&self) -> &SchedulingQueue {
        &self.queue
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The snapshot of the last cycle.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The pods preemption nominated to nodes, not yet placed.
    pub fn nominated(&self) -> &NominatedPods {
        &self.nominated
    }

    fn event(&mut self, event: ClusterEvent, now: Instant) {
        let algorithm = &self.algorithm;
        self.queue
            .on_event(event, |plugin, ev| algorithm.interested(plugin, ev), now);
    }

    /// A node appeared.
    pub fn add_node(&mut self, node: Arc<Node>, now: Instant) {
        self.cache.upsert_node(node);
        self.event(ClusterEvent::NODE_ADD, now);
    }

    /// A node changed.
    pub fn update_node(&mut self, node: Arc<Node>, now: Instant) {
        self.cache.upsert_node(node);
        self.event(ClusterEvent::NODE_UPDATE, now);
    }

    /// A node changed in ways that cannot make any pod fit (a heartbeat): the cache takes
    /// the new object, no pod moves.
    pub fn refresh_node(&mut self, node: Arc<Node>) {
        self.cache.upsert_node(node);
    }

    /// A node went.
    pub fn remove_node(&mut self, name: &str, now: Instant) {
        self.cache.remove_node(name);
        self.event(ClusterEvent::NODE_DELETE, now);
    }

    /// A pod appeared or changed: assigned pods go to the cache (confirming assumed ones),
    /// pending pods this scheduler is responsible for to the queue. Pods being deleted and
    /// pods whose binding is in flight are not queued.
    pub fn upsert_pod(&mut self, pod: Arc<Pod>, now: Instant) {
        let info = Arc::new(PodInfo::new(pod));
        let pod = info.pod();
        if pod.is_terminal() {
            self.delete_pod(info.key(), now);
            return;
        }
        if let Some(node) = assigned_node(pod).map(str::to_owned) {
            let existed = self.cache.pod_node(info.key()).is_some();
            self.queue.delete(info.key());
            self.nominated.remove(info.key());
            self.cache.add_pod(Arc::clone(&info), &node);
            self.event(
                if existed {
                    ClusterEvent::POD_UPDATE
                } else {
                    ClusterEvent::POD_ADD
                },
                now,
            );
            return;
        }
        if pod.metadata.deletion_timestamp.is_some() {
            self.queue.delete(info.key());
            self.nominated.remove(info.key());
            return;
        }
        if self.cache.is_assumed(info.key()) || !self.algorithm.responsible_for(&info) {
            return;
        }
        match pod
            .status
            .nominated_node_name
            .as_deref()
            .filter(|n| !n.is_empty())
        {
            Some(node) => self.nominated.add(Arc::clone(&info), node),
            None => {
                self.nominated.refresh(&info);
            }
        }
        let new = !self.queue.contains(info.key());
        self.queue.add(info, now);
        if new {
            self.event(ClusterEvent::UNASSIGNED_POD_ADD, now);
        }
    }

    /// A pod was deleted.
    pub fn delete_pod(&mut self, key: &ObjectKey, now: Instant) {
        self.queue.delete(key);
        self.nominated.remove(key);
        if self.cache.remove_pod(key).is_some() {
            self.event(ClusterEvent::POD_DELETE, now);
        }
    }

    /// Runs one scheduling cycle for the next pod in the queue; `None` when no pod is
    /// ready. The snapshot is refreshed incrementally first.
    pub fn schedule_next(&mut self, now: Instant) -> Option<Outcome> {
        let queued = self.queue.pop(now)?;
        self.refresh_snapshot();
        let pod = Arc::clone(&queued.info);
        let (state, result) =
            self.algorithm
                .schedule(&pod, &self.snapshot, &self.summaries, &self.nominated);
        match result {
            Ok(decision) => Some(self.assume(queued, state, decision.node, now)),
            Err(u) => {
                let plugins = if u.error.is_some() {
                    HashSet::new()
                } else {
                    u.plugins.iter().map(|p| p.to_string()).collect()
                };
                if let Some(n) = &u.nomination {
                    self.nominated.add(Arc::clone(&pod), &n.node);
                }
                self.queue.requeue_unschedulable(queued, plugins, now);
                Some(Outcome::Unschedulable(pod, Box::new(u)))
            }
        }
    }

    /// Brings the snapshot, and the summaries of its nodes when the framework runs, up to
    /// date with the cache, touching only what changed.
    fn refresh_snapshot(&mut self) {
        let moved = self
            .cache
            .update_snapshot_tracked(&mut self.snapshot, &mut self.changed);
        if let Algorithm::Framework(_) = self.algorithm {
            if moved {
                self.summaries.refresh(&self.snapshot);
            } else {
                self.summaries.refresh_at(&self.snapshot, &self.changed);
            }
        }
    }

    fn assume(
        &mut self,
        queued: QueuedPod,
        mut state: CycleState,
        node: String,
        now: Instant,
    ) -> Outcome {
        let pod = Arc::clone(&queued.info);
        if let Err(e) = self.cache.assume(Arc::clone(&pod), &node) {
            let err = Unschedulable::error(self.snapshot.len(), e.to_string());
            self.queue
                .requeue_unschedulable(queued, HashSet::new(), now);
            return Outcome::Unschedulable(pod, Box::new(err));
        }
        self.nominated.remove(pod.key());
        let permit = match &self.algorithm {
            Algorithm::Framework(fw) => fw
                .reserve(&mut state, &pod, &node)
                .and_then(|()| fw.permit(&mut state, &pod, &node, &self.snapshot)),
            Algorithm::Custom { .. } => Ok(PermitOutcome::Allowed),
        };
        match permit {
            Ok(permit) => Outcome::Assumed(Binding {
                pod,
                node,
                state,
                permit,
                queued,
            }),
            Err(e) => {
                let _ = self.cache.forget(pod.key());
                self.queue
                    .requeue_unschedulable(queued, HashSet::new(), now);
                Outcome::Rejected(pod, e)
            }
        }
    }

    /// The binding cycle of a pod ended: on success the pod leaves the queue and its
    /// assumption waits for the informer's confirmation; on failure it is forgotten and
    /// requeued with backoff.
    pub fn binding_finished(&mut self, queued: QueuedPod, succeeded: bool, now: Instant) {
        let key = queued.info.key().clone();
        if succeeded {
            self.cache.finish_binding(&key, now);
            self.queue.done(&key);
        } else {
            let was_assumed = self.cache.forget(&key).is_ok();
            self.queue
                .requeue_unschedulable(queued, HashSet::new(), now);
            if was_assumed {
                self.event(ClusterEvent::POD_DELETE, now);
            }
        }
    }

    /// Forgets assumed pods whose confirmation never came.
    pub fn cleanup(&mut self, now: Instant) -> Vec<ObjectKey> {
        self.cache.cleanup_expired(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::FrameworkConfig;
    use crate::plugins;
    use crate::testing::{node, pod};
    use std::time::Duration;

    fn engine() -> Engine {
        let fw = FrameworkScheduler::new(
            [plugins::default_plugins(DEFAULT_SCHEDULER_NAME).build()],
            FrameworkConfig {
                parallelism: 1,
                ..FrameworkConfig::default()
            },
        );
        Engine::new(Arc::new(fw), QueueConfig::default(), Cache::default())
    }

    fn assumed(outcome: Option<Outcome>) -> Binding {
        match outcome {
            Some(Outcome::Assumed(b)) => b,
            other => panic!("expected an assumed pod, got {other:?}"),
        }
    }

    #[test]
    fn assumed_pods_count_until_confirmed_and_are_not_queued_again() {
        let mut e = engine();
        let now = Instant::now();
        e.add_node(node("n1").cpu("2").arc_node(), now);
        e.upsert_pod(pod("a").requests("1500m", "0").arc_pod(), now);
        e.upsert_pod(pod("b").requests("1500m", "0").arc_pod(), now);
        let a = assumed(e.schedule_next(now));
        assert_eq!(a.node, "n1");
        // The pending object of `a` arrives again while its binding is in flight.
        e.upsert_pod(pod("a").requests("1500m", "0").arc_pod(), now);
        match e.schedule_next(now) {
            Some(Outcome::Unschedulable(p, u)) => {
                assert_eq!(p.key().name, "b");
                assert_eq!(u.message(), "0/1 nodes are available: 1 Insufficient cpu.");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.schedule_next(now).is_none());
        let (_, _, _, _, queued) = a.into_parts();
        e.binding_finished(queued, true, now);
        assert!(e.cache().is_assumed(&ObjectKey::namespaced("default", "a")));
        e.upsert_pod(
            pod("a").requests("1500m", "0").node_name("n1").arc_pod(),
            now,
        );
        assert!(!e.cache().is_assumed(&ObjectKey::namespaced("default", "a")));
        assert_eq!(e.queue().len(), 1);
    }

    #[test]
    fn a_failed_binding_frees_the_node_and_retries_after_backoff() {
        let mut e = engine();
        let now = Instant::now();
        e.add_node(node("n1").cpu("1").arc_node(), now);
        e.upsert_pod(pod("a").requests("1", "0").arc_pod(), now);
        let (_, _, _, _, queued) = assumed(e.schedule_next(now)).into_parts();
        e.binding_finished(queued, false, now);
        assert_eq!(e.cache().pod_count(), 0);
        assert!(e.schedule_next(now).is_none(), "backing off");
        let later = now + Duration::from_secs(2);
        assert_eq!(assumed(e.schedule_next(later)).node, "n1");
    }

    #[test]
    fn unschedulable_pods_return_when_a_node_is_added() {
        let mut e = engine();
        let now = Instant::now();
        e.add_node(node("small").cpu("1").arc_node(), now);
        e.upsert_pod(pod("big").requests("2", "0").arc_pod(), now);
        assert!(matches!(
            e.schedule_next(now),
            Some(Outcome::Unschedulable(..))
        ));
        assert_eq!(e.queue().unschedulable_len(), 1);
        // An unrelated pod appearing does not help NodeResourcesFit.
        e.upsert_pod(pod("other").scheduler_name("elsewhere").arc_pod(), now);
        assert_eq!(e.queue().unschedulable_len(), 1);
        e.add_node(node("large").cpu("4").arc_node(), now);
        assert_eq!(e.queue().unschedulable_len(), 0);
        let later = now + Duration::from_secs(2);
        assert_eq!(assumed(e.schedule_next(later)).node, "large");
    }

    #[test]
    fn a_pod_failed_for_want_of_any_node_returns_when_one_is_added() {
        let mut e = engine();
        let now = Instant::now();
        e.upsert_pod(pod("p").arc_pod(), now);
        match e.schedule_next(now) {
            Some(Outcome::Unschedulable(_, why)) => {
                assert_eq!(why.message(), "0/0 nodes are available.");
            }
            other => panic!("expected unschedulable, got {other:?}"),
        }
        assert_eq!(e.queue().unschedulable_len(), 1);
        // A node changing, or a pod appearing, cannot help: only a node being added.
        e.upsert_pod(pod("other").scheduler_name("elsewhere").arc_pod(), now);
        assert_eq!(e.queue().unschedulable_len(), 1);
        e.add_node(node("n1").cpu("1").arc_node(), now);
        assert_eq!(e.queue().unschedulable_len(), 0);
        let later = now + Duration::from_secs(2);
        assert_eq!(assumed(e.schedule_next(later)).node, "n1");
    }

    #[test]
    fn preemption_nominates_and_keeps_the_room() {
        let mut e = engine();
        let now = Instant::now();
        e.add_node(node("n1").cpu("2").arc_node(), now);
        e.upsert_pod(
            pod("low")
                .priority(1)
                .requests("2", "0")
                .node_name("n1")
                .arc_pod(),
            now,
        );
        e.upsert_pod(pod("high").priority(10).requests("2", "0").arc_pod(), now);
        let Some(Outcome::Unschedulable(_, u)) = e.schedule_next(now) else {
            panic!("expected a preemption");
        };
        let n = u
            .nomination
            .as_ref()
            .map(|n| (n.node.clone(), n.victims.clone()));
        assert_eq!(
            n,
            Some(("n1".into(), vec![ObjectKey::namespaced("default", "low")]))
        );
        assert_eq!(
            e.nominated()
                .node_of(&ObjectKey::namespaced("default", "high")),
            Some("n1")
        );
        // The victim goes; the preemptor backs off, and a middle-priority pod arriving
        // meanwhile must not take its room.
        e.delete_pod(&ObjectKey::namespaced("default", "low"), now);
        e.upsert_pod(pod("mid").priority(5).requests("2", "0").arc_pod(), now);
        match e.schedule_next(now) {
            Some(Outcome::Unschedulable(p, u)) => {
                assert_eq!(p.key().name, "mid");
                assert_eq!(u.nomination, None, "nothing of lower priority to evict");
            }
            other => panic!("{other:?}"),
        }
        let later = now + Duration::from_secs(2);
        let first = assumed(e.schedule_next(later));
        assert_eq!(first.pod.key().name, "high");
        assert!(e.nominated().is_empty());
    }

    #[derive(Debug)]
    struct FirstNode;

    impl Scheduler for FirstNode {
        fn schedule(
            &self,
            _: &Arc<PodInfo>,
            snapshot: &Snapshot,
        ) -> Result<Decision, Unschedulable> {
            let node = snapshot
                .nodes()
                .first()
                .ok_or_else(Unschedulable::default)?;
            Ok(Decision {
                node: node.name().to_owned(),
                evaluated_nodes: 1,
                feasible_nodes: 1,
            })
        }
    }

    #[test]
    fn a_custom_scheduler_serves_its_names_only() {
        let mut e = Engine::with_algorithm(
            Algorithm::Custom {
                scheduler: Arc::new(FirstNode),
                scheduler_names: vec!["mine".into()],
            },
            QueueConfig::default(),
            Cache::default(),
        );
        let now = Instant::now();
        e.add_node(node("n1").arc_node(), now);
        e.upsert_pod(pod("theirs").arc_pod(), now);
        e.upsert_pod(pod("ours").scheduler_name("mine").arc_pod(), now);
        let b = assumed(e.schedule_next(now));
        assert_eq!((b.pod.key().name.as_str(), b.node.as_str()), ("ours", "n1"));
        assert!(matches!(b.permit, PermitOutcome::Allowed));
        assert!(e.schedule_next(now).is_none());
    }
}
