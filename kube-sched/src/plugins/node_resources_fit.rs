//! NodeResourcesFit: does the node have room for the pod's requests, and how full would it
//! be (LeastAllocated, MostAllocated or RequestedToCapacityRatio).

use std::borrow::Cow;

use kube_core::{PodInfo, Resources};

use crate::events::ClusterEvent;
use crate::framework::{
    CycleState, FilterPlugin, MAX_NODE_SCORE, NodeRef, Plugin, Reasons, Rejection, ScorePlugin,
};

/// The plugin's name.
pub const NAME: &str = "NodeResourcesFit";

/// A resource the scorer weighs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceName {
    /// CPU.
    Cpu,
    /// Memory.
    Memory,
    /// Ephemeral storage.
    EphemeralStorage,
    /// An extended resource.
    Scalar(String),
}

impl ResourceName {
    /// From the Kubernetes resource name.
    pub fn parse(name: &str) -> Self {
        match name {
            "cpu" => Self::Cpu,
            "memory" => Self::Memory,
            "ephemeral-storage" => Self::EphemeralStorage,
            other => Self::Scalar(other.to_owned()),
        }
    }

    /// `(allocatable, requested)` on `node` once `pod` is added. With `non_zero`, CPU and
    /// memory count the defaults for pods that request none (as Kubernetes scores).
    #[inline]
    pub(crate) fn amounts(&self, pod: &PodInfo, node: &NodeRef<'_>, non_zero: bool) -> (i64, i64) {
        let s = node.summary();
        let want = pod.requests();
        match self {
            Self::Cpu if non_zero => (
                s.allocatable_milli_cpu,
                s.non_zero_milli_cpu + want.non_zero().0,
            ),
            Self::Memory if non_zero => {
                (s.allocatable_memory, s.non_zero_memory + want.non_zero().1)
            }
            Self::Cpu => (
                s.allocatable_milli_cpu,
                s.requested_milli_cpu + want.milli_cpu,
            ),
            Self::Memory => (s.allocatable_memory, s.requested_memory + want.memory),
            Self::EphemeralStorage => (
                s.allocatable_ephemeral_storage,
                s.requested_ephemeral_storage + want.ephemeral_storage,
            ),
            Self::Scalar(_) => (
                self.get(node.allocatable()),
                self.get(node.requested()) + self.get(want),
            ),
        }
    }

    fn get(&self, r: &Resources) -> i64 {
        match self {
            Self::Cpu => r.milli_cpu,
            Self::Memory => r.memory,
            Self::EphemeralStorage => r.ephemeral_storage,
            Self::Scalar(n) => r.scalar(n),
        }
    }
}

/// How NodeResourcesFit scores a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScoringStrategy {
    /// Prefer the emptiest nodes: `(capacity - requested) * 100 / capacity` (the default).
    LeastAllocated,
    /// Prefer the fullest nodes (bin packing): `requested * 100 / capacity`.
    MostAllocated,
    /// A piecewise-linear function of utilisation: `(utilisation %, score 0..=10)` points,
    /// sorted by utilisation.
    RequestedToCapacityRatio(Vec<(i64, i64)>),
}

/// Filter: every requested resource fits in what the node has left, and the node's pod
/// count allows one more. Score: the configured [`ScoringStrategy`] over weighted
/// resources (CPU and memory, weight 1 each, by default).
#[derive(Clone, Debug)]
pub struct NodeResourcesFit {
    strategy: ScoringStrategy,
    resources: Vec<(ResourceName, i64)>,
}

impl Default for NodeResourcesFit {
    fn default() -> Self {
        Self::new(ScoringStrategy::LeastAllocated)
    }
}

impl NodeResourcesFit {
    /// The plugin with a strategy, weighing CPU and memory equally.
    pub fn new(strategy: ScoringStrategy) -> Self {
        Self {
            strategy,
            resources: vec![(ResourceName::Cpu, 1), (ResourceName::Memory, 1)],
        }
    }

    /// Weighs these resources instead.
    #[must_use]
    pub fn with_resources(mut self, resources: Vec<(ResourceName, i64)>) -> Self {
        self.resources = resources;
        self
    }

    fn resource_score(&self, requested: i64, capacity: i64) -> i64 {
        match &self.strategy {
            ScoringStrategy::LeastAllocated => {
                if capacity == 0 || requested > capacity {
                    0
                } else {
                    (capacity - requested) * MAX_NODE_SCORE / capacity
                }
            }
            ScoringStrategy::MostAllocated => {
                if capacity == 0 {
                    0
                } else {
                    requested.min(capacity) * MAX_NODE_SCORE / capacity
                }
            }
            ScoringStrategy::RequestedToCapacityRatio(shape) => {
                if capacity == 0 || requested > capacity {
                    return broken_linear(shape, 100) * (MAX_NODE_SCORE / 10);
                }
                broken_linear(shape, requested * 100 / capacity) * (MAX_NODE_SCORE / 10)
            }
        }
    }
}

/// The value at `x` of the piecewise-linear function through `shape`'s points, flat
/// before the first and after the last.
fn broken_linear(shape: &[(i64, i64)], x: i64) -> i64 {
    let Some(first) = shape.first() else {
        return 0;
    };
    if x <= first.0 {
        return first.1;
    }
    for w in shape.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            if x1 == x0 {
                return y1;
            }
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    shape.last().map_or(0, |p| p.1)
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[
            ClusterEvent::NODE_ADD,
            ClusterEvent::NODE_UPDATE,
            ClusterEvent::POD_DELETE,
        ]
    }
}

/// The reasons a pod does not fit a node's free resources, or none.
pub fn insufficient_resources(pod: &PodInfo, node: &NodeRef<'_>) -> Reasons {
    let mut reasons = Reasons::default();
    let s = node.summary();
    if s.pod_count + 1 > s.allocatable_pods {
        reasons.push(Cow::Borrowed("Too many pods"));
    }
    let want = pod.requests();
    if want.milli_cpu > 0 && want.milli_cpu > s.allocatable_milli_cpu - s.requested_milli_cpu {
        reasons.push(Cow::Borrowed("Insufficient cpu"));
    }
    if want.memory > 0 && want.memory > s.allocatable_memory - s.requested_memory {
        reasons.push(Cow::Borrowed("Insufficient memory"));
    }
    if want.ephemeral_storage > 0
        && want.ephemeral_storage > s.allocatable_ephemeral_storage - s.requested_ephemeral_storage
    {
        reasons.push(Cow::Borrowed("Insufficient ephemeral-storage"));
    }
    if !want.scalar.is_empty() {
        let (alloc, used) = (node.allocatable(), node.requested());
        for (name, v) in &want.scalar {
            if *v > 0 && *v > alloc.scalar(name) - used.scalar(name) {
                reasons.push(Cow::Owned(format!("Insufficient {name}")));
            }
        }
    }
    reasons
}

impl FilterPlugin for NodeResourcesFit {
    #[inline]
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeRef<'_>) -> Result<(), Rejection> {
        // Fast path on the summary, no allocation: the common case fits.
        let s = node.summary();
        let want = pod.requests();
        if s.pod_count < s.allocatable_pods
            && want.milli_cpu <= s.allocatable_milli_cpu - s.requested_milli_cpu
            && want.memory <= s.allocatable_memory - s.requested_memory
            && want.ephemeral_storage
                <= s.allocatable_ephemeral_storage - s.requested_ephemeral_storage
            && want.scalar.is_empty()
        {
            return Ok(());
        }
        let reasons = insufficient_resources(pod, node);
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(Rejection {
                code: kube_core::FitCode::Unschedulable,
                reasons,
            })
        }
    }
}

impl ScorePlugin for NodeResourcesFit {
    #[inline]
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeRef<'_>) -> i64 {
        let mut total = 0;
        let mut weights = 0;
        for (r, w) in &self.resources {
            let (capacity, requested) = r.amounts(pod, node, true);
            if capacity == 0 && matches!(r, ResourceName::Scalar(_)) {
                continue;
            }
            total += self.resource_score(requested, capacity) * w;
            weights += w;
        }
        if weights == 0 { 0 } else { total / weights }
    }

    fn score_nodes(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[NodeRef<'_>],
        out: &mut [i64],
    ) {
        // The default resources (CPU and memory): the pod's amounts once, then a tight
        // loop over the summaries.
        let [(ResourceName::Cpu, wc), (ResourceName::Memory, wm)] = self.resources.as_slice()
        else {
            for (o, n) in out.iter_mut().zip(nodes) {
                *o = self.score(state, pod, n);
            }
            return;
        };
        let (wc, wm) = (*wc, *wm);
        let weights = wc + wm;
        if weights == 0 {
            out.fill(0);
            return;
        }
        let (pc, pm) = pod.requests().non_zero();
        for (o, n) in out.iter_mut().zip(nodes) {
            let s = n.summary();
            let cpu = self.resource_score(s.non_zero_milli_cpu + pc, s.allocatable_milli_cpu);
            let mem = self.resource_score(s.non_zero_memory + pm, s.allocatable_memory);
            *o = (cpu * wc + mem * wm) / weights;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::NodeRef;
    use crate::testing::{node, pod};
    use kube_core::NodeInfo;

    #[test]
    fn filter_reports_every_insufficient_resource() {
        let cases: &[(&str, &str, &str, &str, &[&str])] = &[
            // (pod cpu, pod mem, node cpu, node mem, reasons)
            ("1", "1Gi", "2", "2Gi", &[]),
            ("3", "1Gi", "2", "2Gi", &["Insufficient cpu"]),
            ("1", "3Gi", "2", "2Gi", &["Insufficient memory"]),
            (
                "3",
                "3Gi",
                "2",
                "2Gi",
                &["Insufficient cpu", "Insufficient memory"],
            ),
            ("0", "0", "0", "0", &[]),
            ("2", "2Gi", "2", "2Gi", &[]),
        ];
        for (pc, pm, nc, nm, want) in cases {
            let n = node("n").cpu(nc).memory(nm).info();
            let p = pod("p").requests(pc, pm).info();
            let got = NodeResourcesFit::default().filter(&CycleState::new(), &p, &NodeRef::of(&n));
            let reasons: Vec<String> = match got {
                Ok(()) => vec![],
                Err(r) => r.reasons.iter().map(|s| s.to_string()).collect(),
            };
            assert_eq!(reasons, *want, "pod {pc}/{pm} on node {nc}/{nm}");
        }
    }

    #[test]
    fn filter_counts_existing_pods_and_pod_limit() {
        let mut n = node("n").cpu("2").memory("2Gi").pods(2).info();
        n.add_pod(pod("a").requests("1500m", "1Gi").arc());
        let p = pod("p").requests("600m", "100Mi").info();
        let f = NodeResourcesFit::default();
        assert_eq!(
            f.filter(&CycleState::new(), &p, &NodeRef::of(&n))
                .unwrap_err()
                .reasons,
            vec!["Insufficient cpu"]
        );
        n.add_pod(pod("b").requests("0", "0").arc());
        let small = pod("s").requests("100m", "1Mi").info();
        assert_eq!(
            f.filter(&CycleState::new(), &small, &NodeRef::of(&n))
                .unwrap_err()
                .reasons,
            vec!["Too many pods"]
        );
    }

    #[test]
    fn scoring_strategies_match_kubernetes() {
        // Node 4 CPU / 8Gi with 1 CPU / 2Gi used; pod asks 1 CPU / 2Gi.
        let mut n = node("n").cpu("4").memory("8Gi").info();
        n.add_pod(pod("a").requests("1", "2Gi").arc());
        let p = pod("p").requests("1", "2Gi").info();
        let s = CycleState::new();
        let n = NodeRef::of(&n);
        // LeastAllocated: cpu (4-2)*100/4 = 50, mem (8-4)*100/8 = 50.
        assert_eq!(NodeResourcesFit::default().score(&s, &p, &n), 50);
        // MostAllocated: 50 and 50.
        let most = NodeResourcesFit::new(ScoringStrategy::MostAllocated);
        assert_eq!(most.score(&s, &p, &n), 50);
        // RequestedToCapacityRatio with shape (0,0),(100,10): utilisation 50 -> 5 -> 50.
        let ratio = NodeResourcesFit::new(ScoringStrategy::RequestedToCapacityRatio(vec![
            (0, 0),
            (100, 10),
        ]));
        assert_eq!(ratio.score(&s, &p, &n), 50);
        // A pod without requests counts 100m and 200Mi when scoring.
        let empty = pod("e").info();
        let fresh = node("f").cpu("1").memory("1000Mi").info();
        let fresh = NodeRef::of(&fresh);
        // cpu (1000-100)*100/1000 = 90, mem (1000-200)*100/1000 = 80 -> 85.
        assert_eq!(NodeResourcesFit::default().score(&s, &empty, &fresh), 85);
    }

    #[test]
    fn broken_linear_interpolates_and_clamps() {
        let shape = [(10, 2), (50, 10)];
        assert_eq!(broken_linear(&shape, 0), 2);
        assert_eq!(broken_linear(&shape, 30), 6);
        assert_eq!(broken_linear(&shape, 90), 10);
        assert_eq!(broken_linear(&[], 90), 0);
    }

    #[test]
    fn extended_resources_and_ephemeral_storage_must_fit_too() {
        let n = node("n").scalar("example.com/gpu", 2).info();
        let f = NodeResourcesFit::default();
        let cases: &[(i64, &[&str])] =
            &[(1, &[]), (2, &[]), (3, &["Insufficient example.com/gpu"])];
        for (gpus, want) in cases {
            let p = pod("p").scalar("example.com/gpu", *gpus).info();
            let got = match f.filter(&CycleState::new(), &p, &NodeRef::of(&n)) {
                Ok(()) => vec![],
                Err(r) => r.reasons.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            };
            assert_eq!(got, *want, "{gpus} gpus");
        }
        let missing = pod("p").scalar("example.com/fpga", 1).info();
        assert!(
            f.filter(&CycleState::new(), &missing, &NodeRef::of(&n))
                .is_err()
        );
    }

    proptest::proptest! {
        /// Scoring many nodes at once gives what scoring them one by one gives.
        #[test]
        fn batch_scores_equal_single_scores(
            nodes in proptest::collection::vec((0i64..8000, 0i64..(16 << 30), 0i64..8000, 0i64..(16 << 30)), 1..20),
            want in (0i64..4000, 0i64..(8 << 30)),
        ) {
            use crate::plugins::BalancedAllocation;
            let infos: Vec<NodeInfo> = nodes
                .iter()
                .map(|(cap_cpu, cap_mem, used_cpu, used_mem)| {
                    let mut n = node("n").cpu(&format!("{cap_cpu}m")).memory(&cap_mem.to_string()).info();
                    n.add_pod(pod("u").requests(&format!("{used_cpu}m"), &used_mem.to_string()).arc());
                    n
                })
                .collect();
            let refs: Vec<NodeRef<'_>> = infos.iter().map(NodeRef::of).collect();
            let p = pod("p").requests(&format!("{}m", want.0), &want.1.to_string()).info();
            let s = CycleState::new();
            let scorers: Vec<Box<dyn ScorePlugin>> = vec![
                Box::new(NodeResourcesFit::default()),
                Box::new(NodeResourcesFit::new(ScoringStrategy::MostAllocated)),
                Box::new(NodeResourcesFit::new(ScoringStrategy::RequestedToCapacityRatio(vec![(0, 10), (100, 0)]))),
                Box::new(BalancedAllocation::default()),
            ];
            for scorer in scorers {
                let mut batch = vec![0; refs.len()];
                scorer.score_nodes(&s, &p, &refs, &mut batch);
                let single: Vec<i64> = refs.iter().map(|n| scorer.score(&s, &p, n)).collect();
                proptest::prop_assert_eq!(batch, single, "{}", scorer.name());
            }
        }
    }
}
