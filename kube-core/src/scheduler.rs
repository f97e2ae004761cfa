//! The [`Scheduler`] trait: given a pod and a consistent cluster snapshot, pick a node or
//! say why none fits, node by node.
//!
//! The snapshot types live here too ([`PodInfo`], [`NodeInfo`], [`Snapshot`]), so that a
//! platform replacing the scheduler gets the same consistent view the reference framework
//! scheduler works on, built and updated by the same loop.
//!
//! # The contract
//!
//! - [`Scheduler::schedule`] is CPU work: it must not block on I/O or wait on timers. The
//!   loop runs it off the async runtime and never concurrently for two pods against the
//!   same snapshot; an implementation may still spread one call over cores.
//! - The snapshot is consistent: every [`NodeInfo`] in it includes the pods bound to the node
//!   *and* the pods the loop assumed there (scheduled, binding in flight). An implementation
//!   must count both when it checks capacity.
//! - `Ok(Decision)` names a node that is in the snapshot and on which the pod fits by the
//!   implementation's rules; the loop assumes the pod there and binds it.
//! - `Err(Unschedulable)` says, for each node that was rejected, why; nodes rejected for a
//!   reason that removing pods cannot fix are marked
//!   [`FitCode::UnschedulableAndUnresolvable`]. When the implementation found room by
//!   preemption it names the victims and the nominated node; the loop evicts the victims,
//!   records the nomination and retries the pod later. An implementation never mutates the
//!   cluster itself.
//! - `schedule` is deterministic for a given pod, snapshot and implementation state, except
//!   where the implementation documents a rotation (the framework rotates the node it starts
//!   searching at, as Kubernetes does).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::resource::ObjectKey;

mod node_info;
mod pod_info;

pub use node_info::{NodeInfo, Snapshot, next_generation};
pub use pod_info::{
    DEFAULT_MEMORY_REQUEST, DEFAULT_MILLI_CPU_REQUEST, HostPort, PodInfo, Resources,
    normalized_image_name,
};

/// Chooses a node for a pod. Implemented by `kube-sched`'s framework scheduler; a platform
/// replaces the whole scheduling algorithm by implementing it. See the module docs for the
/// contract.
pub trait Scheduler: Send + Sync + fmt::Debug {
    /// Picks a node for `pod` among the nodes of `snapshot`, or says why none fits.
    fn schedule(&self, pod: &Arc<PodInfo>, snapshot: &Snapshot) -> Result<Decision, Unschedulable>;
}

/// Where a pod should go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The chosen node.
    pub node: String,
    /// How many nodes were checked.
    pub evaluated_nodes: usize,
    /// How many of them fit.
    pub feasible_nodes: usize,
}

/// How final a node's rejection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FitCode {
    /// The pod does not fit now; evicting pods from the node may make room.
    Unschedulable,
    /// The pod can never fit this node as it is (affinity, node name, a missing label):
    /// preemption does not consider the node.
    UnschedulableAndUnresolvable,
}

/// Why one node was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRejection {
    /// The node.
    pub node: Arc<str>,
    /// How final the rejection is.
    pub code: FitCode,
    /// The plugin (or rule) that rejected it.
    pub plugin: Cow<'static, str>,
    /// Human-readable reasons, as Kubernetes words them (`"Insufficient cpu"`).
    pub reasons: Vec<Cow<'static, str>>,
}

/// Room found by evicting pods: the node the pod is nominated to and the pods to evict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nomination {
    /// The node the pod should go to once the victims are gone (`status.nominatedNodeName`).
    pub node: String,
    /// The pods to evict from it, lowest priority first.
    pub victims: Vec<ObjectKey>,
}

/// Why a pod could not be placed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unschedulable {
    /// Nodes in the snapshot.
    pub num_nodes: usize,
    /// Why each rejected node was rejected.
    pub rejections: Vec<NodeRejection>,
    /// Set when the pod was rejected before any node was looked at (a pre-filter failed):
    /// the reason applies to every node.
    pub pre_filter: Option<Box<NodeRejectionAll>>,
    /// The plugins that rejected the pod: only cluster events these care about can make it
    /// fit, so only those move it back to the active queue.
    pub plugins: Vec<Cow<'static, str>>,
    /// Room found by preemption, if any.
    pub nomination: Option<Box<Nomination>>,
    /// An internal error (a plugin failed) rather than a misfit: retry after backoff.
    pub error: Option<String>,
}

/// A rejection of every node at once, by a pre-filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRejectionAll {
    /// How final the rejection is.
    pub code: FitCode,
    /// The plugin that rejected the pod.
    pub plugin: Cow<'static, str>,
    /// The reason.
    pub reason: Cow<'static, str>,
}

impl Unschedulable {
    /// An internal error: no node was judged.
    pub fn error(num_nodes: usize, message: impl Into<String>) -> Self {
        Self {
            num_nodes,
            error: Some(message.into()),
            ..Self::default()
        }
    }

    /// The message of the pod's `PodScheduled=False` condition, as Kubernetes writes it:
    /// `"0/5000 nodes are available: 1 node(s) had untolerated taint {a: b}, 4999
    /// Insufficient cpu."`, the `"<count> <reason>"` entries sorted as strings (Kubernetes'
    /// `sort.Strings`).
    pub fn message(&self) -> String {
        if let Some(e) = &self.error {
            return format!("scheduling failed: {e}");
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        if let Some(all) = &self.pre_filter {
            counts.insert(all.reason.as_ref(), self.num_nodes);
        }
        for r in &self.rejections {
            for reason in &r.reasons {
                *counts.entry(reason.as_ref()).or_default() += 1;
            }
        }
        let mut parts: Vec<String> = counts
            .into_iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        parts.sort();
        let mut msg = format!("0/{} nodes are available", self.num_nodes);
        if !parts.is_empty() {
            msg.push_str(": ");
            msg.push_str(&parts.join(", "));
        }
        msg.push('.');
        if let Some(n) = &self.nomination {
            msg.push_str(&format!(
                " preemption: nominated node {} after evicting {} pod(s).",
                n.node,
                n.victims.len()
            ));
        }
        msg
    }
}

impl fmt::Display for Unschedulable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Unschedulable {}
