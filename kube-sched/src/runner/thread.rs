//! The scheduling thread: it owns the [`Engine`], applies the cluster changes the informers
//! forward, runs one scheduling cycle after another, and hands every API write (binding,
//! status, eviction) to a task on the async runtime, so that neither side waits for the
//! other: CPU work never runs on the runtime, I/O never on this thread.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use kube_api::client::Client;
use kube_api::informer::InformerEvent;
use kube_core::{Node, Pod, PodInfo, ResourceExt as _, Unschedulable};
use tokio::runtime::Handle;
use tokio::task::JoinSet;
use tracing::Instrument as _;

use super::Counters;
use super::api::{
    REASON_SCHEDULER_ERROR, REASON_UNSCHEDULABLE, evict_victim, is_not_found, record_failure,
};
use super::ordering::{self, PodWrites};
use crate::engine::{Algorithm, Binding, Engine, Outcome};
use crate::framework::scheduler_name;
use crate::plugins::PodBinder;
use crate::queue::QueuedPod;

/// The longest the thread sleeps with nothing to do: assumed pods expire and
/// long-unschedulable pods are retried on this beat.
const IDLE_BEAT: Duration = Duration::from_secs(1);

/// What the thread is told.
pub(crate) enum Msg {
    /// A node changed.
    Node(InformerEvent<Node>),
    /// A pod changed.
    Pod(InformerEvent<Pod>),
    /// The nodes' informer delivered its first complete list.
    NodesSynced,
    /// The pods' informer delivered its first complete list.
    PodsSynced,
    /// A binding cycle ended.
    Bound {
        queued: QueuedPod,
        node: String,
        result: crate::Result<()>,
    },
    /// Stop scheduling and return.
    Shutdown,
}

/// The scheduling thread's state.
pub(crate) struct LoopThread {
    pub(crate) engine: Engine,
    pub(crate) rx: Receiver<Msg>,
    pub(crate) tx: Sender<Msg>,
    pub(crate) runtime: Handle,
    pub(crate) client: Client,
    pub(crate) binder: Arc<dyn PodBinder>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) tasks: JoinSet<()>,
    /// Each pod's last status write, which its next write or binding waits for.
    pub(crate) writes: PodWrites,
    pub(crate) nodes_synced: bool,
    pub(crate) pods_synced: bool,
}

enum Flow {
    Continue,
    Stop,
}

impl LoopThread {
    /// Runs until told to shut down (or every sender is gone); returns the API writes
    /// still in flight, for the caller to wait on.
    pub(crate) fn run(mut self) -> JoinSet<()> {
        let mut next_cleanup = Instant::now() + IDLE_BEAT;
        loop {
            if let Flow::Stop = self.drain() {
                break;
            }
            while self.tasks.try_join_next().is_some() {}
            let now = Instant::now();
            if now >= next_cleanup {
                for key in self.engine.cleanup(now) {
                    tracing::warn!(pod = %key, "assumed pod expired without confirmation");
                }
                next_cleanup = now + IDLE_BEAT;
            }
            let outcome = if self.nodes_synced && self.pods_synced {
                self.engine.schedule_next(now)
            } else {
                None
            };
            match outcome {
                Some(outcome) => self.dispatch(outcome),
                None => {
                    let wait = self
                        .engine
                        .queue()
                        .next_backoff_expiry()
                        .map_or(IDLE_BEAT, |at| at.saturating_duration_since(now))
                        .min(IDLE_BEAT);
                    let flow = match self.rx.recv_timeout(wait) {
                        Ok(msg) => self.apply(msg),
                        Err(RecvTimeoutError::Timeout) => Flow::Continue,
                        Err(RecvTimeoutError::Disconnected) => Flow::Stop,
                    };
                    if let Flow::Stop = flow {
                        break;
                    }
                }
            }
        }
        self.stop_waiting();
        self.tasks
    }

    /// Applies every message already queued.
    fn drain(&mut self) -> Flow {
        loop {
            match self.rx.try_recv() {
                Ok(msg) => {
                    if let Flow::Stop = self.apply(msg) {
                        return Flow::Stop;
                    }
                }
                Err(TryRecvError::Empty) => return Flow::Continue,
                Err(TryRecvError::Disconnected) => return Flow::Stop,
            }
        }
    }

    fn apply(&mut self, msg: Msg) -> Flow {
        let now = Instant::now();
        match msg {
            Msg::Node(InformerEvent::Added(node)) => self.engine.add_node(node, now),
            Msg::Node(InformerEvent::Updated { old, new }) => {
                if scheduling_relevant(&old, &new) {
                    self.engine.update_node(new, now);
                } else {
                    self.engine.refresh_node(new);
                }
            }
            Msg::Node(InformerEvent::Deleted(node)) => {
                self.engine.remove_node(node.name_any(), now);
            }
            Msg::Pod(InformerEvent::Added(pod) | InformerEvent::Updated { new: pod, .. }) => {
                self.engine.upsert_pod(pod, now);
            }
            Msg::Pod(InformerEvent::Deleted(pod)) => {
                let key = kube_core::ResourceExt::key(&*pod);
                if let Some(fw) = self.engine.framework() {
                    fw.waiting_pods()
                        .reject(&key, "framework", "the pod was deleted");
                }
                self.engine.delete_pod(&key, now);
            }
            Msg::NodesSynced => self.synced(true, self.pods_synced),
            Msg::PodsSynced => self.synced(self.nodes_synced, true),
            Msg::Bound {
                queued,
                node,
                result,
            } => self.bound(queued, &node, result, now),
            Msg::Shutdown => return Flow::Stop,
        }
        Flow::Continue
    }

    fn synced(&mut self, nodes: bool, pods: bool) {
        self.nodes_synced = nodes;
        self.pods_synced = pods;
        if nodes && pods {
            self.counters.synced.store(true, Ordering::Relaxed);
            tracing::info!(
                nodes = self.engine.cache().node_count(),
                pending = self.engine.queue().len(),
                "informers synced, scheduling"
            );
        }
    }

    fn bound(&mut self, queued: QueuedPod, node: &str, result: crate::Result<()>, now: Instant) {
        let pod = Arc::clone(&queued.info);
        self.engine.binding_finished(queued, result.is_ok(), now);
        let err = match result {
            Ok(()) => {
                self.counters.bound.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(pod = %pod.key(), node, "bound");
                return;
            }
            Err(err) => err,
        };
        self.counters.bind_failures.fetch_add(1, Ordering::Relaxed);
        if is_not_found(&err) {
            tracing::debug!(pod = %pod.key(), node, "binding abandoned: the pod is gone");
            return;
        }
        tracing::info!(pod = %pod.key(), node, error = %err, "binding failed, retrying");
        let (reason, message) = match &err {
            crate::Error::PermitRejected { .. } | crate::Error::PermitTimeout => {
                (REASON_UNSCHEDULABLE, err.to_string())
            }
            _ => (REASON_SCHEDULER_ERROR, format!("Binding rejected: {err}")),
        };
        self.write_failure(pod, reason, message);
    }

    fn dispatch(&mut self, outcome: Outcome) {
        self.counters.cycles.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Outcome::Assumed(binding) => self.start_binding(binding),
            Outcome::Unschedulable(pod, why) => self.unschedulable(pod, why),
            Outcome::Rejected(pod, err) => {
                self.counters.unschedulable.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(pod = %pod.key(), error = %err, "rejected before binding");
                self.write_failure(pod, REASON_UNSCHEDULABLE, err.to_string());
            }
        }
    }

    fn start_binding(&mut self, binding: Binding) {
        let (pod, node, state, permit, queued) = binding.into_parts();
        let tx = self.tx.clone();
        let algorithm = self.engine.algorithm().clone();
        let binder = Arc::clone(&self.binder);
        let span = tracing::debug_span!("bind", pod = %pod.key(), node = %node);
        let previous = self.writes.before_binding(pod.key());
        let task = async move {
            // A failure recorded earlier lands first, or it would overwrite the binding's
            // PodScheduled=True.
            ordering::after(previous).await;
            let result = match algorithm {
                Algorithm::Framework(fw) => fw.bind(state, &pod, &node, permit).await,
                Algorithm::Custom { .. } => {
                    let uid = pod.pod().metadata.uid.as_deref();
                    binder.bind(pod.key(), uid, &node).await.map_err(|source| {
                        crate::Error::Plugin {
                            plugin: crate::plugins::default_binder::NAME,
                            source,
                        }
                    })
                }
            };
            // The thread may be gone (shutting down): nothing is waiting then.
            let _ = tx.send(Msg::Bound {
                queued,
                node,
                result,
            });
        };
        self.tasks.spawn_on(task.instrument(span), &self.runtime);
    }

    /// Records why `pod` found no node and, after preemption, evicts the victims. The
    /// message (which counts every node's reasons) is written, and the rejections
    /// dropped, on the async runtime: a pod rejected by thousands of nodes would
    /// otherwise hold the scheduling thread for it.
    fn unschedulable(&mut self, pod: Arc<PodInfo>, why: Box<Unschedulable>) {
        self.counters.unschedulable.fetch_add(1, Ordering::Relaxed);
        let reason = if why.error.is_some() {
            REASON_SCHEDULER_ERROR
        } else {
            REASON_UNSCHEDULABLE
        };
        // Preemption: the victims (with their uids, so that a newer pod of the same name
        // is never deleted), and the node.
        let preemption = why.nomination.as_deref().map(|nomination| {
            let victims: Vec<_> = nomination
                .victims
                .iter()
                .map(|key| {
                    let uid = self
                        .engine
                        .snapshot()
                        .get(&nomination.node)
                        .and_then(|n| n.pods().iter().find(|p| p.key() == key))
                        .and_then(|p| p.pod().metadata.uid.clone());
                    (key.clone(), uid)
                })
                .collect();
            (nomination.node.clone(), victims)
        });
        let client = self.client.clone();
        let profile = scheduler_name(&pod).to_owned();
        let span = tracing::debug_span!("unschedulable", pod = %pod.key());
        if let Some((_, victims)) = &preemption {
            self.counters
                .victims
                .fetch_add(victims.len() as u64, Ordering::Relaxed);
        }
        let (previous, done) = self.writes.start(pod.key());
        let task = async move {
            let message = why.message();
            drop(why);
            tracing::debug!(%message, "unschedulable");
            ordering::after(previous).await;
            let Some((node, victims)) = preemption else {
                if let Err(e) = record_failure(&client, &pod, reason, &message, None).await {
                    tracing::warn!(error = %e, "cannot record the scheduling failure");
                }
                let _ = done.send(());
                return;
            };
            tracing::info!(node = %node, victims = victims.len(), "preempting");
            if let Err(e) = record_failure(&client, &pod, reason, &message, Some(&node)).await {
                tracing::warn!(error = %e, "cannot record the nomination");
            }
            // The victims' evictions need not hold up the pod's next write.
            let _ = done.send(());
            for (victim, uid) in &victims {
                if let Err(e) = evict_victim(&client, victim, uid.as_deref(), &profile).await {
                    tracing::warn!(victim = %victim, error = %e, "cannot evict a victim");
                }
            }
        };
        self.tasks.spawn_on(task.instrument(span), &self.runtime);
    }

    fn write_failure(&mut self, pod: Arc<PodInfo>, reason: &'static str, message: String) {
        let client = self.client.clone();
        let span = tracing::debug_span!("record_failure", pod = %pod.key());
        let (previous, done) = self.writes.start(pod.key());
        let task = async move {
            ordering::after(previous).await;
            if let Err(e) = record_failure(&client, &pod, reason, &message, None).await {
                tracing::warn!(error = %e, "cannot record the scheduling failure");
            }
            let _ = done.send(());
        };
        self.tasks.spawn_on(task.instrument(span), &self.runtime);
    }

    /// Pods held at Permit will not be released by this loop any more: reject them so
    /// their binding tasks end now.
    fn stop_waiting(&self) {
        if let Some(fw) = self.engine.framework() {
            for (pod, _) in fw.waiting_pods().pods() {
                fw.waiting_pods()
                    .reject(pod.key(), "framework", "the scheduler is shutting down");
            }
        }
    }
}

/// True when a node update can change where pods fit: not a heartbeat of conditions.
pub(crate) fn scheduling_relevant(old: &Node, new: &Node) -> bool {
    old.spec.unschedulable != new.spec.unschedulable
        || old.spec.taints != new.spec.taints
        || old.metadata.labels != new.metadata.labels
        || old.status.allocatable != new.status.allocatable
        || old.status.capacity != new.status.capacity
        || old.status.images != new.status.images
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, taint};

    #[test]
    fn heartbeats_are_not_scheduling_events() {
        let a = node("n").node();
        let mut b = a.clone();
        b.metadata.resource_version = Some("9".into());
        b.metadata.annotations.insert("x".into(), "y".into());
        assert!(!scheduling_relevant(&a, &b));
        for changed in [
            node("n").cpu("8").node(),
            node("n").label("zone", "a").node(),
            node("n").unschedulable(true).node(),
            node("n").taint(taint("k", "v", "NoSchedule")).node(),
            node("n").image("web:1", 10).node(),
        ] {
            assert!(scheduling_relevant(&a, &changed), "{changed:?}");
        }
    }
}
