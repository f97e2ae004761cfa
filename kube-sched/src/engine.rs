//! `Engine`: the queue, the node cache, the snapshot and a [`FrameworkScheduler`] wired
//! together. It owns what the scheduling loop does between informer events and API
//! calls, without doing any I/O itself: feed it cluster changes, call
//! [`Engine::schedule_next`], run the binding it returns, report the result.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use kube_core::{Node, ObjectKey, Pod, PodInfo, Snapshot, Unschedulable};

use crate::cache::Cache;
use crate::events::ClusterEvent;
use crate::framework::{CycleState, FrameworkScheduler, PermitOutcome};
use crate::queue::{QueueConfig, QueuedPod, SchedulingQueue};

/// What one scheduling cycle produced.
#[derive(Debug)]
pub enum Outcome {
    /// The pod is assumed on a node; run [`FrameworkScheduler::bind`] with the parts of
    /// this binding, then report with [`Engine::binding_finished`].
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
    /// The scheduling cycle's state, for the binding plugins.
    pub state: CycleState,
    /// Permit's verdict (allowed, or a wait).
    pub permit: PermitOutcome,
    queued: QueuedPod,
}

/// The scheduler's moving parts, behind one `&mut`: the loop keeps it under one lock.
#[derive(Debug)]
pub struct Engine {
    framework: Arc<FrameworkScheduler>,
    queue: SchedulingQueue,
    cache: Cache,
    snapshot: Snapshot,
}

fn assigned_node(pod: &Pod) -> Option<&str> {
    pod.spec.node_name.as_deref().filter(|n| !n.is_empty())
}

impl Engine {
    /// An engine around a framework scheduler.
    pub fn new(framework: Arc<FrameworkScheduler>, queue: QueueConfig, cache: Cache) -> Self {
        Self {
            framework,
            queue: SchedulingQueue::new(queue),
            cache,
            snapshot: Snapshot::new(),
        }
    }

    /// The framework.
    pub fn framework(&self) -> &Arc<FrameworkScheduler> {
        &self.framework
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

    fn event(&mut self, event: ClusterEvent, now: Instant) {
        let fw = &self.framework;
        self.queue.on_event(
            event,
            |plugin, ev| fw.profiles().any(|p| p.is_interested(plugin, ev)),
            now,
        );
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

    /// A node went.
    pub fn remove_node(&mut self, name: &str, now: Instant) {
        self.cache.remove_node(name);
        self.event(ClusterEvent::NODE_DELETE, now);
    }

    /// A pod appeared or changed: assigned pods go to the cache (confirming assumed ones),
    /// pending pods this scheduler is responsible for to the queue.
    pub fn upsert_pod(&mut self, pod: Arc<Pod>, now: Instant) {
        let info = Arc::new(PodInfo::new(pod));
        let pod = info.pod();
        if pod.is_terminal() {
            self.delete_pod(info.key(), now);
            return;
        }
        match assigned_node(pod).map(str::to_owned) {
            Some(node) => {
                let existed = self.cache.pod_node(info.key()).is_some();
                self.queue.delete(info.key());
                self.cache.add_pod(Arc::clone(&info), &node);
                self.event(
                    if existed {
                        ClusterEvent::POD_UPDATE
                    } else {
                        ClusterEvent::POD_ADD
                    },
                    now,
                );
            }
            None if self.framework.responsible_for(&info) => {
                self.queue.add(info, now);
                self.event(ClusterEvent::UNASSIGNED_POD_ADD, now);
            }
            None => {}
        }
    }

    /// A pod was deleted.
    pub fn delete_pod(&mut self, key: &ObjectKey, now: Instant) {
        self.queue.delete(key);
        if self.cache.remove_pod(key).is_some() {
            self.event(ClusterEvent::POD_DELETE, now);
        }
    }

    /// Runs one scheduling cycle for the next pod in the queue; `None` when no pod is
    /// ready. The snapshot is refreshed incrementally first.
    pub fn schedule_next(&mut self, now: Instant) -> Option<Outcome> {
        let queued = self.queue.pop(now)?;
        self.cache.update_snapshot(&mut self.snapshot);
        let pod = Arc::clone(&queued.info);
        let (mut state, result) = self.framework.schedule_with_state(&pod, &self.snapshot);
        match result {
            Ok(decision) => {
                if let Err(e) = self.cache.assume(Arc::clone(&pod), &decision.node) {
                    let err = Unschedulable::error(self.snapshot.len(), e.to_string());
                    self.queue
                        .requeue_unschedulable(queued, HashSet::new(), now);
                    return Some(Outcome::Unschedulable(pod, Box::new(err)));
                }
                let node = decision.node;
                let permit = self
                    .framework
                    .reserve(&mut state, &pod, &node)
                    .and_then(|()| {
                        self.framework
                            .permit(&mut state, &pod, &node, &self.snapshot)
                    });
                match permit {
                    Ok(permit) => Some(Outcome::Assumed(Binding {
                        pod,
                        node,
                        state,
                        permit,
                        queued,
                    })),
                    Err(e) => {
                        let _ = self.cache.forget(pod.key());
                        self.queue
                            .requeue_unschedulable(queued, HashSet::new(), now);
                        Some(Outcome::Rejected(pod, e))
                    }
                }
            }
            Err(u) => {
                let plugins = u.plugins.iter().map(|p| p.to_string()).collect();
                let plugins = if u.error.is_some() {
                    HashSet::new()
                } else {
                    plugins
                };
                self.queue.requeue_unschedulable(queued, plugins, now);
                Some(Outcome::Unschedulable(pod, Box::new(u)))
            }
        }
    }

    /// The binding cycle of `binding` ended: on success the pod leaves the queue and its
    /// assumption waits for the informer's confirmation; on failure it is forgotten and
    /// requeued with backoff.
    pub fn binding_finished(
        &mut self,
        key: &ObjectKey,
        queued: QueuedPod,
        result: &crate::Result<()>,
        now: Instant,
    ) {
        match result {
            Ok(()) => {
                self.cache.finish_binding(key, now);
                self.queue.done(key);
            }
            Err(_) => {
                let _ = self.cache.forget(key);
                self.queue
                    .requeue_unschedulable(queued, HashSet::new(), now);
                self.event(ClusterEvent::POD_DELETE, now);
            }
        }
    }

    /// Forgets assumed pods whose confirmation never came.
    pub fn cleanup(&mut self, now: Instant) -> Vec<ObjectKey> {
        self.cache.cleanup_expired(now)
    }
}

impl Binding {
    /// Splits the binding into what the binding cycle needs and the queue entry to hand
    /// back to [`Engine::binding_finished`].
    pub fn into_parts(self) -> (Arc<PodInfo>, String, CycleState, PermitOutcome, QueuedPod) {
        (self.pod, self.node, self.state, self.permit, self.queued)
    }
}
