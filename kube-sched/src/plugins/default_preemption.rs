//! DefaultPreemption: when no node fits, find the node where evicting the fewest,
//! lowest-priority pods makes room, and nominate it.

use std::cmp::Ordering as CmpOrdering;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kube_core::{
    FitCode, NodeInfo, NodeRejection, Nomination, PodInfo, PreemptionPolicy, Snapshot, Time,
};
use parking_lot::Mutex;

use crate::events::ClusterEvent;
use crate::framework::{CycleState, FilterRunner, NominatedNode, Plugin, PostFilterPlugin};

/// The plugin's name.
pub const NAME: &str = "DefaultPreemption";

/// Nodes dry-run at least (Kubernetes: `minCandidateNodesAbsolute`, 100).
const MIN_CANDIDATES: usize = 100;
/// Percentage of nodes dry-run at least (Kubernetes: `minCandidateNodesPercentage`, 10).
const MIN_CANDIDATES_PERCENT: usize = 10;

/// PostFilter: preemption. Only pods that may preempt (`preemptionPolicy` is not
/// `Never`) and only nodes rejected for reasons eviction can fix are considered; on each
/// candidate node every lower-priority pod is removed, the filters rerun, then pods are
/// given back from the most important down while the pod still fits; what cannot be
/// given back is the victim set. Among candidates, the node with the lowest
/// highest-victim priority wins, then the lowest sum of priorities, then the fewest
/// victims, then the latest start of the most important victims.
#[derive(Debug, Default)]
pub struct DefaultPreemption {
    offset: AtomicUsize,
    dry_runs: Mutex<DryRuns>,
}

/// Dry-run answers kept for the last preemptor's shape: preemptors of one workload try
/// the same candidate nodes one after the other, and most of those nodes did not change
/// in between. An answer is reused only for the same node info (pointer, held), a pod of
/// the same namespace, labels and spec, a cycle state that depends on the pod alone, and
/// no pod nominated to the node.
#[derive(Debug, Default)]
struct DryRuns {
    shape: Option<Arc<kube_core::Pod>>,
    by_node: HashMap<Arc<str>, (Arc<NodeInfo>, Victims)>,
}

/// A dry run's answer: the victims on the node, or `None` when eviction cannot help.
type Victims = Option<Vec<Arc<PodInfo>>>;

/// At most this many answers are kept (a cluster's worth of candidates).
const MAX_DRY_RUNS: usize = 20_000;

fn same_shape(a: &kube_core::Pod, b: &kube_core::Pod) -> bool {
    a.metadata.namespace == b.metadata.namespace
        && a.metadata.labels == b.metadata.labels
        && a.spec == b.spec
}

/// One node's victims and how they rank.
#[derive(Debug)]
struct Candidate {
    node: String,
    victims: Vec<Arc<PodInfo>>,
}

impl Candidate {
    fn highest(&self) -> i32 {
        self.victims
            .iter()
            .map(|v| v.priority())
            .max()
            .unwrap_or(i32::MIN)
    }

    fn priority_sum(&self) -> i64 {
        // Offset every priority to be positive, as Kubernetes does, so more victims
        // weigh more even at negative priorities.
        self.victims
            .iter()
            .map(|v| i64::from(v.priority()) + i64::from(i32::MAX) + 1)
            .sum()
    }

    /// The earliest start among the most important victims.
    fn earliest_start_of_highest(&self) -> Option<Time> {
        let h = self.highest();
        self.victims
            .iter()
            .filter(|v| v.priority() == h)
            .filter_map(|v| start_time(v))
            .min()
    }

    fn better_than(&self, other: &Self) -> bool {
        let by = self
            .highest()
            .cmp(&other.highest())
            .then(self.priority_sum().cmp(&other.priority_sum()))
            .then(self.victims.len().cmp(&other.victims.len()))
            // Later start is better: reverse.
            .then(
                other
                    .earliest_start_of_highest()
                    .cmp(&self.earliest_start_of_highest()),
            );
        by == CmpOrdering::Less
    }
}

fn start_time(p: &PodInfo) -> Option<Time> {
    p.pod().status.start_time
}

/// More important first: higher priority, then earlier start.
fn more_important(a: &Arc<PodInfo>, b: &Arc<PodInfo>) -> CmpOrdering {
    b.priority()
        .cmp(&a.priority())
        .then_with(|| match (start_time(a), start_time(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => CmpOrdering::Less,
            (None, Some(_)) => CmpOrdering::Greater,
            (None, None) => CmpOrdering::Equal,
        })
}

/// True when the pod may preempt: its policy allows it, and it is not already waiting for
/// victims to leave its nominated node (the framework's nomination, else the pod's
/// `status.nominatedNodeName`).
fn eligible(state: &CycleState, pod: &PodInfo, snapshot: &Snapshot) -> bool {
    let p = pod.pod();
    if p.spec.preemption_policy == Some(PreemptionPolicy::Never) {
        return false;
    }
    let nominated = state
        .read::<NominatedNode>()
        .map(|n| n.0.as_str())
        .or(p.status.nominated_node_name.as_deref());
    if let Some(nominated) = nominated
        && let Some(node) = snapshot.get(nominated)
        && node
            .pods()
            .iter()
            .any(|q| q.pod().metadata.deletion_timestamp.is_some() && q.priority() < pod.priority())
    {
        return false;
    }
    true
}

/// Dry-runs preemption on one node: the minimal victims, or `None` when evicting every
/// lower-priority pod is not enough.
fn select_victims(
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    filters: &dyn FilterRunner,
) -> Option<Vec<Arc<PodInfo>>> {
    let mut potential: Vec<Arc<PodInfo>> = node
        .pods()
        .iter()
        .filter(|p| p.priority() < pod.priority())
        .cloned()
        .collect();
    if potential.is_empty() {
        return None;
    }
    let mut info = node.clone();
    let mut st = state.clone();
    for v in &potential {
        info.remove_pod(v.key());
        filters.remove_pod(&mut st, pod, v, &info);
    }
    if filters.run_filters(&st, pod, &info).is_err() {
        return None;
    }
    potential.sort_by(more_important);
    let mut victims = Vec::new();
    for p in potential {
        info.add_pod(Arc::clone(&p));
        filters.add_pod(&mut st, pod, &p, &info);
        if filters.run_filters(&st, pod, &info).is_err() {
            info.remove_pod(p.key());
            filters.remove_pod(&mut st, pod, &p, &info);
            victims.push(p);
        }
    }
    if victims.is_empty() {
        // It fits without evicting anything: nothing for preemption to do here.
        return None;
    }
    // Lowest priority first.
    victims.reverse();
    Some(victims)
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::POD_DELETE, ClusterEvent::NODE_ADD]
    }
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(
        &self,
        state: &CycleState,
        pod: &Arc<PodInfo>,
        snapshot: &Snapshot,
        rejections: &[NodeRejection],
        filters: &dyn FilterRunner,
    ) -> Option<Nomination> {
        if !eligible(state, pod, snapshot) {
            return None;
        }
        // Nodes rejected for reasons eviction can fix; looked up lazily, from a rotating
        // offset, until enough candidates are found.
        let potential = rejections
            .iter()
            .filter(|r| r.code == FitCode::Unschedulable)
            .count();
        if potential == 0 {
            return None;
        }
        let wanted = (snapshot.len() * MIN_CANDIDATES_PERCENT / 100)
            .max(MIN_CANDIDATES)
            .min(potential);
        let n = rejections.len();
        let offset = self.offset.fetch_add(1, Ordering::Relaxed) % n;
        // Candidate nodes in rotation order, dry-run until `wanted` have victims: one by
        // one on one thread, or a chunk at a time over the framework's pool (in the same
        // order, so the answer does not depend on the pool; the last chunk may run a few
        // dry runs for nothing).
        let order: Vec<&NodeRejection> = (0..n)
            .map(|i| &rejections[(offset + i) % n])
            .filter(|r| r.code == FitCode::Unschedulable)
            .collect();
        let par = filters.parallelizer();
        let reuse = filters.node_local_state(state);
        let mut memo = self.dry_runs.lock();
        if !memo
            .shape
            .as_ref()
            .is_some_and(|s| reuse && same_shape(s, pod.pod()))
        {
            memo.by_node.clear();
            memo.shape = reuse.then(|| Arc::clone(pod.pod_arc()));
        }
        if memo.by_node.len() > MAX_DRY_RUNS {
            memo.by_node.clear();
        }
        let mut best: Option<Candidate> = None;
        let mut found = 0;
        let mut consider = |node: &NodeInfo, victims: Vec<Arc<PodInfo>>| {
            let c = Candidate {
                node: node.name().to_owned(),
                victims,
            };
            if best.as_ref().is_none_or(|b| c.better_than(b)) {
                best = Some(c);
            }
            found += 1;
            found >= wanted
        };
        let chunk = if par.threads() == 1 {
            1
        } else {
            par.threads() * 64
        };
        'chunks: for part in order.chunks(chunk) {
            let nodes: Vec<&Arc<NodeInfo>> =
                part.iter().filter_map(|r| snapshot.get(&r.node)).collect();
            // Known answers first; the others dry-run (over the pool when there is one).
            let cacheable: Vec<bool> = nodes
                .iter()
                .map(|n| reuse && !filters.counts_nominated(pod, n))
                .collect();
            let known: Vec<Option<Victims>> = nodes
                .iter()
                .zip(&cacheable)
                .map(|(n, &c)| {
                    c.then(|| memo.by_node.get(n.name_arc()))
                        .flatten()
                        .filter(|(info, _)| Arc::ptr_eq(info, n))
                        .map(|(_, v)| v.clone())
                })
                .collect();
            let missing: Vec<usize> = (0..nodes.len()).filter(|&i| known[i].is_none()).collect();
            let computed = par.map(missing.len(), |j| {
                select_victims(state, pod, nodes[missing[j]], filters)
            });
            let mut results = known;
            for (i, v) in missing.into_iter().zip(computed) {
                if cacheable[i] {
                    memo.by_node.insert(
                        Arc::clone(nodes[i].name_arc()),
                        (Arc::clone(nodes[i]), v.clone()),
                    );
                }
                results[i] = Some(v);
            }
            for (node, victims) in nodes.iter().zip(results) {
                if let Some(Some(victims)) = victims
                    && consider(node, victims)
                {
                    break 'chunks;
                }
            }
        }
        best.map(|c| Nomination {
            node: c.node,
            victims: c.victims.iter().map(|v| v.key().clone()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Profile;
    use crate::plugins::NodeResourcesFit;
    use crate::testing::{node, pod};

    fn profile() -> Profile {
        Profile::builder("t")
            .filter(Arc::new(NodeResourcesFit::default()))
            .build()
    }

    fn rejections(snap: &Snapshot) -> Vec<NodeRejection> {
        snap.nodes()
            .iter()
            .map(|n| NodeRejection {
                node: Arc::clone(n.name_arc()),
                code: FitCode::Unschedulable,
                plugin: "NodeResourcesFit".into(),
                reasons: vec!["Insufficient cpu".into()],
            })
            .collect()
    }

    #[test]
    fn picks_the_node_with_the_least_important_victims() {
        // Both nodes are full (4 CPUs). n1 holds two 2-CPU pods at priority 5 and 1; n2
        // holds one 4-CPU pod at priority 3. A 2-CPU pod at priority 10 needs 2 CPUs.
        let mut n1 = node("n1").cpu("4").memory("8Gi").info();
        n1.add_pod(pod("a").priority(5).requests("2", "1Gi").arc());
        n1.add_pod(pod("b").priority(1).requests("2", "1Gi").arc());
        let mut n2 = node("n2").cpu("4").memory("8Gi").info();
        n2.add_pod(pod("c").priority(3).requests("4", "1Gi").arc());
        let snap = Snapshot::from_nodes([n1, n2]);
        let p = pod("p").priority(10).requests("2", "1Gi").arc();
        let got = DefaultPreemption::default()
            .post_filter(
                &CycleState::new(),
                &p,
                &snap,
                &rejections(&snap),
                &profile(),
            )
            .unwrap();
        // n1 needs only b (priority 1) evicted; n2 needs c (priority 3).
        assert_eq!(got.node, "n1");
        assert_eq!(got.victims, vec![pod("b").info().key().clone()]);
    }

    #[test]
    fn no_preemption_without_lower_priority_pods_or_when_never() {
        let mut n1 = node("n1").cpu("1").memory("1Gi").info();
        n1.add_pod(pod("a").priority(10).requests("1", "1Gi").arc());
        let snap = Snapshot::from_nodes([n1]);
        let p = pod("p").priority(10).requests("1", "1Gi").arc();
        let pf = DefaultPreemption::default();
        assert_eq!(
            pf.post_filter(
                &CycleState::new(),
                &p,
                &snap,
                &rejections(&snap),
                &profile()
            ),
            None
        );
        let never = pod("p")
            .priority(20)
            .preemption_never()
            .requests("1", "1Gi")
            .arc();
        assert_eq!(
            pf.post_filter(
                &CycleState::new(),
                &never,
                &snap,
                &rejections(&snap),
                &profile()
            ),
            None
        );
        let high = pod("p").priority(20).requests("1", "1Gi").arc();
        assert!(
            pf.post_filter(
                &CycleState::new(),
                &high,
                &snap,
                &rejections(&snap),
                &profile()
            )
            .is_some()
        );
    }

    /// The profile's filters, with a pool.
    struct Pooled<'a>(&'a Profile, &'a rayon::ThreadPool);

    impl FilterRunner for Pooled<'_> {
        fn run_filters(
            &self,
            state: &CycleState,
            pod: &PodInfo,
            node: &NodeInfo,
        ) -> Result<(), crate::framework::Rejection> {
            self.0.run_filters(state, pod, node)
        }
        fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &PodInfo, node: &NodeInfo) {
            self.0.add_pod(state, pod, added, node);
        }
        fn remove_pod(
            &self,
            state: &mut CycleState,
            pod: &PodInfo,
            removed: &PodInfo,
            node: &NodeInfo,
        ) {
            self.0.remove_pod(state, pod, removed, node);
        }
        fn parallelizer(&self) -> crate::framework::Parallelizer<'_> {
            crate::framework::Parallelizer::new(Some(self.1))
        }
    }

    #[test]
    fn the_pool_does_not_change_the_choice() {
        // 300 full nodes whose victims differ in priority; only 100 are dry-run (the
        // minimum), from a rotating offset: both ways must pick the same node and pods.
        let nodes: Vec<NodeInfo> = (0..300)
            .map(|i| {
                let mut n = node(&format!("n{i:03}")).cpu("2").memory("8Gi").info();
                n.add_pod(
                    pod(&format!("v{i:03}"))
                        .priority(i * 7 % 13)
                        .requests("2", "0")
                        .arc(),
                );
                n
            })
            .collect();
        let snap = Snapshot::from_nodes(nodes);
        let p = pod("p").priority(100).requests("1", "0").arc();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let profile = profile();
        let serial = DefaultPreemption::default();
        let parallel = DefaultPreemption::default();
        for _ in 0..3 {
            let a = serial.post_filter(&CycleState::new(), &p, &snap, &rejections(&snap), &profile);
            let b = parallel.post_filter(
                &CycleState::new(),
                &p,
                &snap,
                &rejections(&snap),
                &Pooled(&profile, &pool),
            );
            assert!(a.is_some());
            assert_eq!(a, b);
        }
    }
}
