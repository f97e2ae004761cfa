//! The plugin traits, one per extension point, as Kubernetes' scheduling framework defines
//! them.
//!
//! A plugin is one type implementing [`Plugin`] and the extension-point traits it needs;
//! a [`Profile`](super::Profile) holds it (shared, `Arc`) at each of those points. Filter
//! and Score run once per node per pod: they must not allocate on success and should read
//! what PreFilter / PreScore computed from the [`CycleState`].

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kube_core::{BoxError, NodeInfo, NodeRejection, Nomination, PodInfo, Snapshot};

use super::node_ref::NodeRef;
use super::parallel::Parallelizer;
use super::rejection::Rejection;
use super::state::CycleState;
use super::waiting::WaitingPods;
use crate::events::ClusterEvent;

/// The highest score a Score plugin gives after normalisation (Kubernetes: 100).
pub const MAX_NODE_SCORE: i64 = 100;

/// What every plugin tells about itself.
pub trait Plugin: Send + Sync + fmt::Debug {
    /// The plugin's name, as Kubernetes' configuration names it (`"NodeResourcesFit"`).
    fn name(&self) -> &'static str;

    /// The cluster events that can make a pod this plugin rejected fit. The queue moves
    /// such a pod back only on these. The default is every event.
    fn events(&self) -> &'static [ClusterEvent] {
        ALL_EVENTS
    }
}

/// Every cluster event.
pub const ALL_EVENTS: &[ClusterEvent] = &[
    ClusterEvent::NODE_ADD,
    ClusterEvent::NODE_UPDATE,
    ClusterEvent::NODE_DELETE,
    ClusterEvent::POD_ADD,
    ClusterEvent::POD_UPDATE,
    ClusterEvent::POD_DELETE,
    ClusterEvent::UNASSIGNED_POD_ADD,
];

/// What a PreFilter plugin decided for the cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreFilterResult {
    /// Run this plugin's Filter on the nodes.
    Proceed,
    /// This plugin has nothing to check for this pod: skip its Filter.
    Skip,
    /// Only these nodes can fit; the framework filters the others out without calling
    /// any Filter.
    Nodes(HashSet<String>),
}

/// PreFilter: checks the pod once per cycle and computes what Filter needs.
pub trait PreFilterPlugin: Plugin {
    /// Runs before any Filter. Rejecting here rejects every node.
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<PreFilterResult, Rejection>;

    /// Preemption simulates adding `added` to `node`: update the state to match.
    fn add_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _added: &PodInfo, _node: &NodeInfo) {
    }

    /// Preemption simulates removing `removed` from `node`: update the state to match.
    fn remove_pod(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _removed: &PodInfo,
        _node: &NodeInfo,
    ) {
    }

    /// True when what this plugin writes into the cycle state depends on the pod alone
    /// (or on each node separately), never on other nodes: a filter verdict for one
    /// node then depends only on the pod and that node, and may be reused. The default
    /// is the safe answer, false.
    fn node_local(&self) -> bool {
        false
    }
}

/// Filter: can the pod run on this node?
pub trait FilterPlugin: Plugin {
    /// `Ok` when the node fits, as far as this plugin is concerned.
    fn filter(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeRef<'_>,
    ) -> Result<(), Rejection>;
}

/// Runs a profile's filters on one node, for PostFilter plugins that simulate changes
/// (preemption).
pub trait FilterRunner: Send + Sync {
    /// Every Filter plugin not skipped in `state`, in order; the first rejection wins.
    fn run_filters(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
    ) -> Result<(), Rejection>;
    /// Tells every PreFilter plugin that `added` was added to `node`.
    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &PodInfo, node: &NodeInfo);
    /// Tells every PreFilter plugin that `removed` was removed from `node`.
    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, removed: &PodInfo, node: &NodeInfo);

    /// The framework's worker pool, for work spread over nodes (serial by default).
    fn parallelizer(&self) -> Parallelizer<'_> {
        Parallelizer::serial()
    }

    /// True when every PreFilter plugin that ran into `state` is
    /// [node-local](PreFilterPlugin::node_local): filter verdicts then depend only on
    /// the pod, the node and the pods nominated to it. False by default.
    fn node_local_state(&self, _state: &CycleState) -> bool {
        false
    }

    /// True when pods nominated to `node` count when filtering `pod` there.
    fn counts_nominated(&self, _pod: &PodInfo, _node: &NodeInfo) -> bool {
        false
    }
}

/// PostFilter: runs when no node fits, to make room (preemption).
pub trait PostFilterPlugin: Plugin {
    /// Returns where the pod could go after evicting victims, if anywhere.
    fn post_filter(
        &self,
        state: &CycleState,
        pod: &Arc<PodInfo>,
        snapshot: &Snapshot,
        rejections: &[NodeRejection],
        filters: &dyn FilterRunner,
    ) -> Option<Nomination>;
}

/// What a PreScore plugin decided for the cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreScoreResult {
    /// Run this plugin's Score.
    Proceed,
    /// Nothing to score for this pod: skip this plugin's Score.
    Skip,
}

/// PreScore: computes, once per cycle, what Score needs over the feasible nodes.
pub trait PreScorePlugin: Plugin {
    /// Runs before any Score, with the nodes that passed the filters.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        nodes: &[NodeRef<'_>],
    ) -> PreScoreResult;
}

/// Score: ranks a feasible node.
pub trait ScorePlugin: Plugin {
    /// The node's raw score.
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeRef<'_>) -> i64;

    /// The raw scores of many nodes at once, into `out` (same order, same length); what
    /// the framework calls. The default calls [`ScorePlugin::score`] for each node; a
    /// plugin overrides it to do its per-pod work once and keep the loop tight. Both must
    /// give the same scores.
    fn score_nodes(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[NodeRef<'_>],
        out: &mut [i64],
    ) {
        for (o, n) in out.iter_mut().zip(nodes) {
            *o = self.score(state, pod, n);
        }
    }

    /// Maps the raw scores of every feasible node into `0..=MAX_NODE_SCORE`, in place.
    /// The default leaves them as they are (the plugin already scores in range).
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, _scores: &mut [i64]) {}
}

/// Reserve: claims plugin-side resources for the pod on the chosen node; Unreserve gives
/// them back when a later step fails.
pub trait ReservePlugin: Plugin {
    /// Claims; an error fails the cycle and unreserves every Reserve plugin.
    fn reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Result<(), BoxError>;
    /// Gives back what [`ReservePlugin::reserve`] claimed. Must be idempotent.
    fn unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str);
}

/// What a Permit plugin decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Permit {
    /// Go on to binding.
    Allow,
    /// Do not bind: unreserve and requeue the pod.
    Reject(String),
    /// Hold the pod until allowed or rejected through [`WaitingPods`], or until the timeout.
    Wait(Duration),
}

/// What a Permit plugin can see besides the pod.
#[derive(Debug)]
pub struct PermitContext<'a> {
    /// The cycle's snapshot (without the pod being permitted).
    pub snapshot: &'a Snapshot,
    /// Pods held by Permit, to allow or reject them.
    pub waiting: &'a WaitingPods,
}

/// Permit: the last say before binding: allow, reject, or wait.
pub trait PermitPlugin: Plugin {
    /// Decides for a pod assumed on `node`.
    fn permit(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &str,
        ctx: &PermitContext<'_>,
    ) -> Permit;
}

/// What a Bind plugin did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindResult {
    /// The pod is bound.
    Bound,
    /// Not this plugin's pod: try the next Bind plugin.
    Skip,
}

/// PreBind: prepares the node before binding (volumes, for example).
#[async_trait]
pub trait PreBindPlugin: Plugin {
    /// An error fails the binding, unreserves and requeues the pod.
    async fn pre_bind(&self, state: &CycleState, pod: &PodInfo, node: &str)
    -> Result<(), BoxError>;
}

/// Bind: records the placement (the pods/binding subresource).
#[async_trait]
pub trait BindPlugin: Plugin {
    /// Binds, or skips so the next Bind plugin does.
    async fn bind(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &str,
    ) -> Result<BindResult, BoxError>;
}

/// PostBind: informational, after a successful bind.
pub trait PostBindPlugin: Plugin {
    /// The pod is bound to `node`.
    fn post_bind(&self, state: &CycleState, pod: &PodInfo, node: &str);
}

/// Kubernetes' default normalisation: scales scores so the highest becomes
/// [`MAX_NODE_SCORE`]; with `reverse`, the highest raw score gets 0 and the lowest the
/// most. All zeros stay zeros (or all become the maximum, reversed).
pub fn default_normalize_score(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.fill(MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores {
        let v = MAX_NODE_SCORE * *s / max;
        *s = if reverse { MAX_NODE_SCORE - v } else { v };
    }
}
