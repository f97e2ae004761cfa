//! The NodeLifecycle controller: notices nodes whose agent stopped reporting, taints
//! them, and evicts their pods once their tolerations run out.
//!
//! - **Health**: a node is heard from when its Lease in `kube-node-lease` is renewed or
//!   its `Ready` condition's heartbeat moves. Both are compared with what this controller
//!   saw before and timed on its own monotonic clock (as Kubernetes does, so skewed
//!   clocks do not matter). A node not heard from for the grace period (40 s; 60 s for a
//!   node that never reported) gets `Ready`, `MemoryPressure`, `DiskPressure` and
//!   `PIDPressure` set to `Unknown` (`NodeStatusUnknown`, "Kubelet stopped posting node
//!   status."), and its pods' `Ready` condition set to `False`.
//! - **Taints**: `Ready=False` gives `node.kubernetes.io/not-ready`, `Ready=Unknown`
//!   `node.kubernetes.io/unreachable`, each as `NoExecute` and `NoSchedule`; pressure
//!   conditions, `NetworkUnavailable` and `spec.unschedulable` give their `NoSchedule`
//!   taints. When no node at all is ready (a full disruption: more likely the control
//!   plane is cut off than every node dead), no `NoExecute` taint is added and those
//!   there are removed, as Kubernetes does.
//! - **Eviction**: a pod on a node with `NoExecute` taints is deleted at once if it does
//!   not tolerate one of them, after the shortest `tolerationSeconds` (from when the taint
//!   was added) if it tolerates them for a while, never if it tolerates them forever.
//!
//! Nothing announces that a node went quiet, so each node is looked at again when its
//! grace period would run out, and when a pod's toleration would.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use kube_api::client::{Api, Client, DeleteParams, Patch, PatchParams, PostParams};
use kube_api::informer::{Cache, NODE_NAME_INDEX};
use kube_core::{
    Action, ConditionStatus, Lease, MicroTime, Node, NodeCondition, NodeConditionType, ObjectKey,
    Pod, PodCondition, PodConditionType, ResourceExt as _, TaintEffect, Time,
};
use parking_lot::Mutex;
use tokio::time::Instant;

use super::taints::{self, TAINT_NOT_READY, TAINT_UNREACHABLE};
use crate::error::Result;
use crate::runtime::{Controller, ControllerConfig, EventRecorder, RunContext, Runnable};

/// Settings of the NodeLifecycle controller.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeLifecycleConfig {
    /// Workers and retries.
    pub controller: ControllerConfig,
    /// How long a node may stay silent before it is `Unknown` (Kubernetes' 40 s).
    pub grace_period: Duration,
    /// The same, for a node that never reported `Ready` (Kubernetes' 60 s).
    pub startup_grace_period: Duration,
    /// The namespace of the node Leases.
    pub lease_namespace: String,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        Self {
            controller: ControllerConfig::default(),
            grace_period: Duration::from_secs(40),
            startup_grace_period: Duration::from_secs(60),
            lease_namespace: "kube-node-lease".to_owned(),
        }
    }
}

/// The NodeLifecycle controller; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct NodeLifecycleController {
    config: NodeLifecycleConfig,
}

impl NodeLifecycleController {
    /// A controller with these settings.
    pub fn new(config: NodeLifecycleConfig) -> Self {
        Self { config }
    }
}

#[async_trait]
impl Runnable for NodeLifecycleController {
    fn name(&self) -> &str {
        "nodelifecycle"
    }

    async fn run(&self, ctx: RunContext) -> Result<()> {
        let nodes = ctx.factory.informer::<Node>().cache();
        let pods = ctx.factory.informer::<Pod>().cache();
        pods.index_by(NODE_NAME_INDEX, |p: &Pod| {
            p.spec
                .node_name
                .iter()
                .filter(|n| !n.is_empty())
                .cloned()
                .collect()
        });
        let state = Arc::new(State {
            client: ctx.client.clone(),
            nodes: nodes.clone(),
            pods,
            leases: ctx.factory.informer::<Lease>().cache(),
            health: Mutex::new(HashMap::new()),
            recorder: ctx.recorder("node-controller"),
            config: self.config.clone(),
        });
        let lease_ns = self.config.lease_namespace.clone();
        Controller::<Node>::for_factory(&ctx.factory)
            .name(self.name())
            .config(self.config.controller.clone())
            .metrics(&ctx.metrics)
            .graceful_shutdown_on(ctx.shutdown.clone())
            .watches(move |lease: &Lease| {
                if lease.namespace() == Some(lease_ns.as_str()) {
                    vec![ObjectKey::cluster(lease.name_any())]
                } else {
                    Vec::new()
                }
            })
            // Pods on a node with NoExecute taints: their tolerations decide evictions.
            .watches(move |pod: &Pod| {
                let Some(node) = pod.spec.node_name.as_deref().filter(|n| !n.is_empty()) else {
                    return Vec::new();
                };
                match nodes.get_named(None, node) {
                    Some(n) if n.spec.taints.iter().any(|t| t.effect == TaintEffect::NoExecute) => {
                        vec![ObjectKey::cluster(node)]
                    }
                    _ => Vec::new(),
                }
            })
            .run_keyed(
                |key, state: Arc<State>| async move { state.reconcile(&key).await },
                state,
            )
            .await;
        Ok(())
    }
}

/// What this controller last heard from a node, and when.
struct Health {
    heard: Instant,
    lease_renewed: Option<MicroTime>,
    heartbeat: Option<Time>,
    ready: Option<ConditionStatus>,
}

struct State {
    client: Client,
    nodes: Cache<Node>,
    pods: Cache<Pod>,
    leases: Cache<Lease>,
    health: Mutex<HashMap<String, Health>>,
    recorder: EventRecorder,
    config: NodeLifecycleConfig,
}

const CONDITIONS: [NodeConditionType; 4] = [
    NodeConditionType::Ready,
    NodeConditionType::MemoryPressure,
    NodeConditionType::DiskPressure,
    NodeConditionType::PidPressure,
];

impl State {
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action> {
        let Some(node) = self.nodes.get(key) else {
            self.health.lock().remove(&key.name);
            return Ok(Action::Done);
        };
        let mut node = (*node).clone();
        let mut requeue: Option<Duration> = None;
        let silent_for = self.observe(&node);
        let reported = node.condition(&NodeConditionType::Ready).is_some();
        let grace = if reported {
            self.config.grace_period
        } else {
            self.config.startup_grace_period
        };
        if silent_for >= grace {
            let was_ready = node.is_ready();
            if mark_unknown(&mut node) {
                tracing::info!(node = %key.name, "node stopped reporting; conditions set to Unknown");
                let api: Api<Node> = Api::all(self.client.clone());
                node = api
                    .replace_status(node.name_any(), &PostParams::default(), &node)
                    .await?;
                self.recorder.normal(
                    &node,
                    "NodeNotReady",
                    &format!("Node {} status is now: NodeNotReady", node.name_any()),
                );
                if was_ready {
                    self.mark_pods_not_ready(&key.name).await?;
                }
            }
        } else {
            requeue = Some(grace - silent_for + Duration::from_millis(10));
        }
        self.taint(&mut node).await?;
        if let Some(next) = self.evict(&node).await? {
            requeue = Some(requeue.map_or(next, |r| r.min(next)));
        }
        Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
    }

    /// Records what the node reported; returns how long it has been silent.
    fn observe(&self, node: &Node) -> Duration {
        let lease = self
            .leases
            .get_named(Some(&self.config.lease_namespace), node.name_any());
        let renewed = lease.as_ref().and_then(|l| l.spec.renew_time);
        let ready = node.condition(&NodeConditionType::Ready);
        let heartbeat = ready.and_then(|c| c.last_heartbeat_time);
        let status = ready.map(|c| c.status.clone());
        let mut health = self.health.lock();
        let now = Instant::now();
        let h = health
            .entry(node.name_any().to_owned())
            .or_insert_with(|| Health {
                // First sight (or a restart of this controller): a full grace period.
                heard: now,
                lease_renewed: renewed,
                heartbeat,
                ready: status.clone(),
            });
        // The controller's own write of Unknown is not a report from the node.
        let status_reported = status != h.ready && status != Some(ConditionStatus::Unknown);
        if renewed != h.lease_renewed || heartbeat != h.heartbeat || status_reported {
            h.heard = now;
        }
        h.lease_renewed = renewed;
        h.heartbeat = heartbeat;
        h.ready = status;
        now.duration_since(h.heard)
    }

    async fn mark_pods_not_ready(&self, node: &str) -> Result<()> {
        for pod in self.pods.by_index(NODE_NAME_INDEX, node) {
            if !pod.is_ready() {
                continue;
            }
            let mut updated = (*pod).clone();
            updated.status.set_condition(
                PodCondition::new(PodConditionType::Ready, ConditionStatus::False),
                Time::now(),
            );
            let api: Api<Pod> =
                Api::namespaced(self.client.clone(), pod.namespace().unwrap_or_default());
            match api
                .replace_status(pod.name_any(), &PostParams::default(), &updated)
                .await
            {
                Ok(_) => {}
                Err(e) if matches!(e.code(), 404 | 409) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Brings the node's managed taints in line with its conditions.
    async fn taint(&self, node: &mut Node) -> Result<()> {
        let ready = node
            .condition(&NodeConditionType::Ready)
            .map(|c| c.status.clone());
        let mut wanted = Vec::new();
        // This node as just written, the others as cached.
        let full_disruption = !node.is_ready()
            && !self
                .nodes
                .list()
                .iter()
                .any(|n| n.name_any() != node.name_any() && n.is_ready());
        match ready {
            Some(ConditionStatus::False) => {
                if !full_disruption {
                    wanted.push(taints::taint(TAINT_NOT_READY, TaintEffect::NoExecute));
                }
                wanted.push(taints::taint(TAINT_NOT_READY, TaintEffect::NoSchedule));
            }
            Some(ConditionStatus::Unknown) => {
                if !full_disruption {
                    wanted.push(taints::taint(TAINT_UNREACHABLE, TaintEffect::NoExecute));
                }
                wanted.push(taints::taint(TAINT_UNREACHABLE, TaintEffect::NoSchedule));
            }
            _ => {}
        }
        for (type_, key) in [
            (
                NodeConditionType::MemoryPressure,
                taints::TAINT_MEMORY_PRESSURE,
            ),
            (NodeConditionType::DiskPressure, taints::TAINT_DISK_PRESSURE),
            (NodeConditionType::PidPressure, taints::TAINT_PID_PRESSURE),
            (
                NodeConditionType::NetworkUnavailable,
                taints::TAINT_NETWORK_UNAVAILABLE,
            ),
        ] {
            if node.condition(&type_).is_some_and(|c| c.status.is_true()) {
                wanted.push(taints::taint(key, TaintEffect::NoSchedule));
            }
        }
        if node.spec.unschedulable {
            wanted.push(taints::taint(
                taints::TAINT_UNSCHEDULABLE,
                TaintEffect::NoSchedule,
            ));
        }
        let Some(new) = taints::reconcile_taints(&node.spec.taints, &wanted) else {
            return Ok(());
        };
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": node.resource_version()},
            "spec": {"taints": new},
        });
        let api: Api<Node> = Api::all(self.client.clone());
        *node = api
            .patch(
                node.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        Ok(())
    }

    /// Evicts the pods whose tolerations ran out; returns when the next one would.
    async fn evict(&self, node: &Node) -> Result<Option<Duration>> {
        if !node
            .spec
            .taints
            .iter()
            .any(|t| t.effect == TaintEffect::NoExecute)
        {
            return Ok(None);
        }
        let now = Utc::now();
        let mut next: Option<Duration> = None;
        for pod in self.pods.by_index(NODE_NAME_INDEX, node.name_any()) {
            if pod.is_being_deleted() {
                continue;
            }
            let Some(at) = taints::eviction_time(&pod, &node.spec.taints, now) else {
                continue;
            };
            if at > now {
                let wait = taints::until(at, now) + Duration::from_millis(10);
                next = Some(next.map_or(wait, |n| n.min(wait)));
                continue;
            }
            tracing::info!(pod = %pod.key(), node = %node.name_any(), "evicting: NoExecute taint not tolerated");
            self.recorder.normal(
                &*pod,
                "TaintManagerEviction",
                &format!("Marking for deletion Pod {}", pod.key()),
            );
            let api: Api<Pod> =
                Api::namespaced(self.client.clone(), pod.namespace().unwrap_or_default());
            match api.delete(pod.name_any(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if e.code() == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(next)
    }
}

/// Sets the node's conditions to Unknown as Kubernetes does; true when anything changed.
fn mark_unknown(node: &mut Node) -> bool {
    let now = Time::now();
    let mut changed = false;
    for type_ in CONDITIONS {
        match node.status.conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status == ConditionStatus::Unknown => {}
            Some(c) => {
                c.status = ConditionStatus::Unknown;
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(now);
                changed = true;
            }
            None => {
                let created = node.metadata.creation_timestamp.unwrap_or(now);
                node.status.conditions.push(NodeCondition {
                    type_,
                    status: ConditionStatus::Unknown,
                    last_heartbeat_time: Some(created),
                    last_transition_time: Some(now),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                });
                changed = true;
            }
        }
    }
    changed
}
