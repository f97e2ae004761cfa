//! The Filter phase of a cycle: which nodes can run the pod, searched from a rotating start
//! until enough are found, on one thread or several; pods nominated to a node count as if
//! they ran there.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kube_core::{NodeInfo, NodeRejection, PodInfo};

use super::node_ref::{NodeRef, NodeSummary};
use super::nominator::NominatedPods;
use super::parallel::Parallelizer;
use super::plugin::FilterRunner;
use super::profile::Profile;
use super::rejection::Rejection;
use super::state::CycleState;

/// The feasible nodes of a cycle and the rejections of the others.
pub(crate) struct Filtered<'s> {
    pub(crate) feasible: Vec<NodeRef<'s>>,
    /// Kept as found, without touching the nodes again: made into [`NodeRejection`]s
    /// only when no node fits (most cycles drop them).
    pub(crate) rejected: Vec<Rejected<'s>>,
    pub(crate) processed: usize,
}

/// A node a plugin rejected.
pub(crate) struct Rejected<'s> {
    node: NodeRef<'s>,
    plugin: &'static str,
    rejection: Rejection,
}

impl Filtered<'_> {
    /// The rejections, as the scheduling contract reports them; `names` are the snapshot
    /// nodes' names by position.
    pub(crate) fn into_rejections(self, names: &[Arc<str>]) -> Vec<NodeRejection> {
        self.rejected
            .into_iter()
            .map(|r| NodeRejection {
                node: r
                    .node
                    .position()
                    .and_then(|at| names.get(at))
                    .map_or_else(|| Arc::clone(r.node.name_arc()), Arc::clone),
                code: r.rejection.code,
                plugin: Cow::Borrowed(r.plugin),
                reasons: r.rejection.reasons.into_vec(),
            })
            .collect()
    }
}

impl Filtered<'_> {
    fn with_capacity(n: usize) -> Self {
        Self {
            feasible: Vec::with_capacity(n),
            rejected: Vec::new(),
            processed: 0,
        }
    }
}

/// What every node of one cycle is filtered with.
#[derive(Clone, Copy)]
pub(crate) struct Filtering<'a> {
    pub(crate) profile: &'a Profile,
    pub(crate) state: &'a CycleState,
    pub(crate) pod: &'a PodInfo,
    pub(crate) nominated: &'a NominatedPods,
}

impl Filtering<'_> {
    /// Runs the filters on one node. When pods of at least the pod's priority are
    /// nominated to the node, the node must fit the pod both without them (so that filters
    /// such as pod affinity do not pass only thanks to pods that are not there yet) and
    /// with them (so their room is kept), as Kubernetes does.
    #[inline]
    pub(crate) fn node(&self, node: &NodeRef<'_>) -> Result<(), (&'static str, Rejection)> {
        // Without the nominated pods first: a node that fails without them fails with
        // them too for resources and ports, and the cheap check spares the copy.
        self.profile.filter_node(self.state, self.pod, node)?;
        if self.nominated.is_empty() {
            return Ok(());
        }
        self.with_nominated(node)
    }

    fn with_nominated(&self, node: &NodeInfo) -> Result<(), (&'static str, Rejection)> {
        let mut others = self
            .nominated
            .on_node(node.name())
            .iter()
            .filter(|p| p.priority() >= self.pod.priority() && p.key() != self.pod.key())
            .peekable();
        if others.peek().is_none() {
            return Ok(());
        }
        let mut info = node.clone();
        let mut state = self.state.clone();
        for p in others {
            info.add_pod(Arc::clone(p));
            self.profile.add_pod(&mut state, self.pod, p, &info);
        }
        self.profile
            .filter_node(&state, self.pod, &NodeRef::of(&info))
    }

    #[inline]
    fn check<'s>(&self, node: NodeRef<'s>, out: &mut Filtered<'s>) {
        out.processed += 1;
        match self.node(&node) {
            Ok(()) => out.feasible.push(node),
            Err((plugin, rejection)) => out.rejected.push(Rejected {
                node,
                plugin,
                rejection,
            }),
        }
    }

    /// Filters only the nodes a PreFilter plugin allowed; the others are rejected for good.
    pub(crate) fn listed<'s>(
        &self,
        nodes: &'s [Arc<NodeInfo>],
        rows: &[NodeSummary],
        names: &HashSet<String>,
    ) -> Filtered<'s> {
        let mut out = Filtered::with_capacity(names.len().min(nodes.len()));
        for (i, (node, row)) in nodes.iter().zip(rows).enumerate() {
            let node = NodeRef::at(node, *row, i);
            if names.contains(node.name()) {
                self.check(node, &mut out);
            } else {
                out.processed += 1;
                out.rejected.push(Rejected {
                    node,
                    plugin: "PreFilter",
                    rejection: Rejection::unresolvable(
                        "node(s) didn't satisfy plugin(s) pre-filter",
                    ),
                });
            }
        }
        out
    }

    /// Filters from `start`, wrapping around, until `to_find` nodes fit or every node was
    /// checked; spread over `pool` when given.
    pub(crate) fn rotating<'s>(
        &self,
        nodes: &'s [Arc<NodeInfo>],
        rows: &[NodeSummary],
        start: usize,
        to_find: usize,
        pool: Option<&rayon::ThreadPool>,
    ) -> Filtered<'s> {
        if let Some(pool) = pool {
            return self.parallel(nodes, rows, start, to_find, pool);
        }
        let n = nodes.len();
        let mut out = Filtered::with_capacity(to_find.min(n));
        let start = start.min(n);
        for i in (start..n).chain(0..start) {
            self.check(NodeRef::at(&nodes[i], rows[i], i), &mut out);
            if out.feasible.len() >= to_find {
                break;
            }
        }
        out
    }

    /// Filters from `start` in one contiguous slice per pool thread at once, each stopping
    /// once `to_find` nodes are feasible in total; then keeps the first `to_find` in
    /// rotation order.
    fn parallel<'s>(
        &self,
        nodes: &'s [Arc<NodeInfo>],
        rows: &[NodeSummary],
        start: usize,
        to_find: usize,
        pool: &rayon::ThreadPool,
    ) -> Filtered<'s> {
        use rayon::prelude::*;
        let n = nodes.len();
        let threads = pool.current_num_threads().max(1);
        let found = AtomicUsize::new(0);
        let chunk = n.div_ceil(threads);
        let parts: Vec<Filtered<'s>> = pool.install(|| {
            (0..threads)
                .into_par_iter()
                .map(|t| {
                    let mut out = Filtered::with_capacity(0);
                    for i in (t * chunk)..((t + 1) * chunk).min(n) {
                        if found.load(Ordering::Relaxed) >= to_find {
                            break;
                        }
                        let at = (start + i) % n;
                        let before = out.feasible.len();
                        self.check(NodeRef::at(&nodes[at], rows[at], at), &mut out);
                        if out.feasible.len() > before {
                            found.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    out
                })
                .collect()
        });
        let mut out = Filtered::with_capacity(to_find);
        for part in parts {
            out.processed += part.processed;
            out.rejected.extend(part.rejected);
            for f in part.feasible {
                if out.feasible.len() < to_find {
                    out.feasible.push(f);
                }
            }
        }
        out
    }
}

/// A profile's filters that count nominated pods, for PostFilter plugins: preemption must
/// see the room already promised to other preemptors, or it would evict nothing and
/// promise the same room twice.
pub(crate) struct NominatedFilters<'a> {
    pub(crate) profile: &'a Profile,
    pub(crate) nominated: &'a NominatedPods,
    pub(crate) pool: Option<&'a rayon::ThreadPool>,
}

impl FilterRunner for NominatedFilters<'_> {
    fn run_filters(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
    ) -> Result<(), Rejection> {
        if node.node().is_none() {
            return Err(Rejection::unresolvable("node not found"));
        }
        Filtering {
            profile: self.profile,
            state,
            pod,
            nominated: self.nominated,
        }
        .node(&NodeRef::of(node))
        .map_err(|(_, r)| r)
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &PodInfo, node: &NodeInfo) {
        self.profile.add_pod(state, pod, added, node);
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &PodInfo,
        node: &NodeInfo,
    ) {
        self.profile.remove_pod(state, pod, removed, node);
    }

    fn parallelizer(&self) -> Parallelizer<'_> {
        Parallelizer::new(self.pool)
    }

    fn node_local_state(&self, state: &CycleState) -> bool {
        self.profile.node_local_state(state)
    }

    fn counts_nominated(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        self.nominated
            .on_node(node.name())
            .iter()
            .any(|p| p.priority() >= pod.priority() && p.key() != pod.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::NodeResourcesFit;
    use crate::testing::{node, pod};

    fn profile() -> Profile {
        Profile::builder("t")
            .filter(Arc::new(NodeResourcesFit::default()))
            .build()
    }

    #[test]
    fn nominated_pods_of_equal_or_higher_priority_keep_their_room() {
        let profile = profile();
        let n = node("n").cpu("4").info();
        let state = CycleState::new();
        let mut nominated = NominatedPods::new();
        nominated.add(pod("big").priority(10).requests("3", "0").arc(), "n");
        let run = |p: &PodInfo, nominated: &NominatedPods| {
            Filtering {
                profile: &profile,
                state: &state,
                pod: p,
                nominated,
            }
            .node(&NodeRef::of(&n))
            .map_err(|(_, r)| r.reasons.into_vec())
        };
        let low = pod("low").priority(5).requests("2", "0").info();
        assert_eq!(run(&low, &nominated), Err(vec!["Insufficient cpu".into()]));
        // A pod of higher priority than the nominated one ignores the nomination.
        let high = pod("high").priority(20).requests("2", "0").info();
        assert_eq!(run(&high, &nominated), Ok(()));
        // The nominated pod itself does not count against itself.
        let big = pod("big").priority(10).requests("3", "0").info();
        assert_eq!(run(&big, &nominated), Ok(()));
        assert_eq!(run(&low, &NominatedPods::new()), Ok(()));
    }

    #[test]
    fn rotation_starts_where_asked_and_stops_when_enough_fit() {
        let profile = profile();
        let nodes: Vec<Arc<NodeInfo>> = (0..10).map(|i| node(&format!("n{i}")).arc()).collect();
        let state = CycleState::new();
        let nominated = NominatedPods::new();
        let p = pod("p").requests("1", "0").info();
        let f = Filtering {
            profile: &profile,
            state: &state,
            pod: &p,
            nominated: &nominated,
        };
        let rows: Vec<NodeSummary> = nodes.iter().map(|n| NodeSummary::of(n)).collect();
        let out = f.rotating(&nodes, &rows, 8, 3, None);
        let names: Vec<&str> = out.feasible.iter().map(|n| n.name()).collect();
        assert_eq!(names, ["n8", "n9", "n0"]);
        assert_eq!(out.processed, 3);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let all = f.rotating(&nodes, &rows, 3, 100, Some(&pool));
        assert_eq!(all.feasible.len(), 10);
        assert_eq!(all.processed, 10);
        let some = f.rotating(&nodes, &rows, 3, 4, Some(&pool));
        assert_eq!(some.feasible.len(), 4);
    }
}
