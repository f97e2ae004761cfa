//! PodTopologySpread: keep matching pods evenly spread over topology domains (zones,
//! nodes), as the pod's `topologySpreadConstraints` ask: `DoNotSchedule` constraints
//! filter, `ScheduleAnyway` constraints score.

use kube_core::{
    NodeInclusionPolicy, NodeInfo, PodInfo, Snapshot, TaintEffect, TopologySpreadConstraint,
    UnsatisfiableConstraintAction,
};
use parking_lot::Mutex;

use super::node_affinity::pod_matches_node;
use super::pod_selector::PodSelector;
use super::spread_counts::{SpreadMemos, SpreadTables};
use super::taint_toleration::tolerates;
use crate::events::ClusterEvent;
use crate::framework::{
    CycleState, FilterPlugin, MAX_NODE_SCORE, NodeRef, Plugin, PreFilterPlugin, PreFilterResult,
    PreScorePlugin, PreScoreResult, Rejection, ScorePlugin,
};

/// The plugin's name.
pub const NAME: &str = "PodTopologySpread";
/// The reason when the node lacks a constraint's topology label.
pub const REASON_MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
/// The reason when placing the pod would exceed a constraint's skew.
pub const REASON_SKEW: &str = "node(s) didn't match pod topology spread constraints";

/// The topology key of a node's own domain.
const HOSTNAME: &str = "kubernetes.io/hostname";

/// One constraint, compiled.
#[derive(Clone, Debug)]
struct Constraint {
    max_skew: i64,
    key: String,
    selector: PodSelector,
    min_domains: usize,
    honor_affinity: bool,
    honor_taints: bool,
}

fn constraints(pod: &PodInfo, hard: bool) -> Vec<Constraint> {
    let p = pod.pod();
    p.spec
        .topology_spread_constraints
        .iter()
        .filter(|c| (c.when_unsatisfiable == UnsatisfiableConstraintAction::DoNotSchedule) == hard)
        .map(|c| compile(c, &p.metadata.labels))
        .collect()
}

fn compile(
    c: &TopologySpreadConstraint,
    labels: &std::collections::BTreeMap<String, String>,
) -> Constraint {
    let mut selector = PodSelector::new(c.label_selector.as_ref());
    for key in &c.match_label_keys {
        if let Some(v) = labels.get(key) {
            selector.require(key, v);
        }
    }
    Constraint {
        max_skew: i64::from(c.max_skew),
        key: c.topology_key.clone(),
        selector,
        min_domains: c.min_domains.map_or(1, |m| m.max(1) as usize),
        honor_affinity: c.node_affinity_policy != Some(NodeInclusionPolicy::Ignore),
        honor_taints: c.node_taints_policy == Some(NodeInclusionPolicy::Honor),
    }
}

fn has_all_keys(node: &NodeInfo, cs: &[Constraint]) -> bool {
    node.node()
        .is_some_and(|n| cs.iter().all(|c| n.metadata.labels.contains_key(&c.key)))
}

fn label<'a>(node: &'a NodeInfo, key: &str) -> Option<&'a str> {
    node.node()?.metadata.labels.get(key).map(String::as_str)
}

/// Whether the node counts for the constraint's domains (node inclusion policies).
fn included(c: &Constraint, pod: &PodInfo, node: &NodeInfo) -> bool {
    if c.honor_affinity && !pod_matches_node(pod, node) {
        return false;
    }
    if c.honor_taints {
        let tols = &pod.pod().spec.tolerations;
        let ok = node.node().is_some_and(|n| {
            n.spec.taints.iter().all(|t| {
                !matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute)
                    || tols.iter().any(|tol| tolerates(tol, t))
            })
        });
        if !ok {
            return false;
        }
    }
    true
}

fn count_matching(node: &NodeInfo, c: &Constraint, namespace: Option<&str>) -> i64 {
    node.pods()
        .iter()
        .filter(|p| {
            let m = &p.pod().metadata;
            m.namespace.as_deref() == namespace
                && m.deletion_timestamp.is_none()
                && c.selector.matches(&m.labels)
        })
        .count() as i64
}

/// What the counts per domain depend on: the pod's namespace, its constraints (of one
/// kind), the label values its `matchLabelKeys` read, and what node inclusion reads
/// (node selector, node affinity, tolerations). Pods of one workload share it.
#[derive(Clone, Debug, PartialEq)]
struct Signature {
    namespace: Option<String>,
    constraints: Vec<TopologySpreadConstraint>,
    label_values: Vec<Option<String>>,
    node_selector: std::collections::BTreeMap<String, String>,
    node_affinity: Option<kube_core::NodeAffinity>,
    tolerations: Vec<kube_core::Toleration>,
}

impl Signature {
    fn of(pod: &PodInfo, hard: bool) -> Self {
        let p = pod.pod();
        let constraints: Vec<TopologySpreadConstraint> = p
            .spec
            .topology_spread_constraints
            .iter()
            .filter(|c| {
                (c.when_unsatisfiable == UnsatisfiableConstraintAction::DoNotSchedule) == hard
            })
            .cloned()
            .collect();
        let label_values = constraints
            .iter()
            .flat_map(|c| &c.match_label_keys)
            .map(|k| p.metadata.labels.get(k).cloned())
            .collect();
        Self {
            namespace: p.metadata.namespace.clone(),
            constraints,
            label_values,
            node_selector: p.spec.node_selector.clone(),
            node_affinity: p
                .spec
                .affinity
                .as_ref()
                .and_then(|a| a.node_affinity.clone()),
            tolerations: p.spec.tolerations.clone(),
        }
    }
}

/// Matching pods per domain of every node that counts for the constraints: constraint
/// `i` is table `i`. Kept across cycles for pods of the same signature.
fn spread_tables(
    memos: &Mutex<SpreadMemos<Signature>>,
    pod: &PodInfo,
    hard: bool,
    cs: &[Constraint],
    snapshot: &Snapshot,
) -> SpreadTables {
    let ns = pod.pod().metadata.namespace.as_deref();
    let keys: Vec<&str> = cs.iter().map(|c| c.key.as_str()).collect();
    memos
        .lock()
        .tables(Signature::of(pod, hard), &keys, snapshot, |i, node| {
            let c = &cs[i];
            (has_all_keys(node, cs) && included(c, pod, node)).then(|| count_matching(node, c, ns))
        })
}

/// Per hard constraint: matching pods per domain and the smallest count.
#[derive(Clone, Debug)]
struct FilterState {
    constraints: Vec<Constraint>,
    tables: SpreadTables,
    mins: Vec<i64>,
    domains: Vec<usize>,
    /// Whether the pod matches each constraint's own selector (it then counts itself).
    self_match: Vec<i64>,
}

impl FilterState {
    fn recompute(&mut self, i: usize) {
        let mut count = 0;
        let mut min = i64::MAX;
        for d in self.tables.domains(i) {
            count += 1;
            min = min.min(d.pods);
        }
        self.domains[i] = count;
        self.mins[i] = if count == 0 { 0 } else { min };
    }

    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        if other.pod().metadata.namespace != pod.pod().metadata.namespace
            || !has_all_keys(node, &self.constraints)
        {
            return;
        }
        for i in 0..self.constraints.len() {
            let c = &self.constraints[i];
            if !c.selector.matches(&other.pod().metadata.labels) || !included(c, pod, node) {
                continue;
            }
            if let Some(v) = label(node, &c.key) {
                self.tables.add_pods(i, v, delta);
                self.recompute(i);
            }
        }
    }
}

/// Filter and Score by the pod's topology spread constraints.
#[derive(Debug, Default)]
pub struct PodTopologySpread {
    hard: Mutex<SpreadMemos<Signature>>,
    soft: Mutex<SpreadMemos<Signature>>,
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[
            ClusterEvent::NODE_ADD,
            ClusterEvent::NODE_UPDATE,
            ClusterEvent::NODE_DELETE,
            ClusterEvent::POD_ADD,
            ClusterEvent::POD_UPDATE,
            ClusterEvent::POD_DELETE,
        ]
    }
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<PreFilterResult, Rejection> {
        let cs = constraints(pod, true);
        if cs.is_empty() {
            return Ok(PreFilterResult::Skip);
        }
        let tables = spread_tables(&self.hard, pod, true, &cs, snapshot);
        let n = cs.len();
        let labels = &pod.pod().metadata.labels;
        let self_match = cs
            .iter()
            .map(|c| i64::from(c.selector.matches(labels)))
            .collect();
        let mut s = FilterState {
            constraints: cs,
            tables,
            mins: vec![0; n],
            domains: vec![0; n],
            self_match,
        };
        for i in 0..n {
            s.recompute(i);
        }
        state.write(s);
        Ok(PreFilterResult::Proceed)
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<FilterState>() {
            s.update(pod, added, node, 1);
        }
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &PodInfo,
        node: &NodeInfo,
    ) {
        if let Some(s) = state.read_mut::<FilterState>() {
            s.update(pod, removed, node, -1);
        }
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, _: &PodInfo, node: &NodeRef<'_>) -> Result<(), Rejection> {
        let Some(s) = state.read::<FilterState>() else {
            return Ok(());
        };
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(id) = s.tables.domain_of(i, &c.key, node) else {
                return Err(Rejection::unresolvable(REASON_MISSING_LABEL));
            };
            let self_match = s.self_match[i];
            let matching = s.tables.pods(i, id);
            let min = if s.domains[i] < c.min_domains {
                0
            } else {
                s.mins[i]
            };
            if matching + self_match - min > c.max_skew {
                return Err(Rejection::unschedulable(REASON_SKEW));
            }
        }
        Ok(())
    }
}

/// Per soft constraint: matching pods per domain of the feasible nodes, and the
/// normalising weight `ln(domains + 2)`.
#[derive(Clone, Debug)]
struct ScoreState {
    constraints: Vec<Constraint>,
    tables: SpreadTables,
    weights: Vec<f64>,
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        nodes: &[NodeRef<'_>],
    ) -> PreScoreResult {
        let cs = constraints(pod, false);
        if cs.is_empty() {
            return PreScoreResult::Skip;
        }
        // Domains among the feasible nodes, and how many of those nodes count.
        let mut present: Vec<std::collections::HashSet<&str>> = vec![Default::default(); cs.len()];
        let mut eligible = 0usize;
        for n in nodes {
            if !has_all_keys(n, &cs) {
                continue;
            }
            eligible += 1;
            for (i, c) in cs.iter().enumerate() {
                if c.key != HOSTNAME
                    && let Some(v) = label(n, &c.key)
                {
                    present[i].insert(v);
                }
            }
        }
        let weights = cs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let size = if c.key == HOSTNAME {
                    eligible
                } else {
                    present[i].len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        // Matching pods per domain over every node that counts.
        let tables = spread_tables(&self.soft, pod, false, &cs, snapshot);
        state.write(ScoreState {
            constraints: cs,
            tables,
            weights,
        });
        PreScoreResult::Proceed
    }
}

impl ScorePlugin for PodTopologySpread {
    /// A node lacking a constraint's label scores -1: [`ScorePlugin::normalize`] turns it
    /// into 0 and leaves it out of the range.
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeRef<'_>) -> i64 {
        let Some(s) = state.read::<ScoreState>() else {
            return 0;
        };
        if !has_all_keys(node, &s.constraints) {
            return -1;
        }
        let mut score = 0f64;
        for (i, c) in s.constraints.iter().enumerate() {
            // A hostname domain is the node itself: its count is the node's matching
            // pods, kept with the other domains' counts.
            let count = s
                .tables
                .domain_of(i, &c.key, node)
                .map_or(0, |id| s.tables.pods(i, id));
            score += count as f64 * s.weights[i] + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        let valid = scores.iter().copied().filter(|s| *s >= 0);
        let (min, max) = valid.fold((i64::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)));
        for s in scores.iter_mut() {
            *s = if *s < 0 {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *s) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::NodeRef;
    use crate::testing::{node, pod};
    use std::sync::Arc;

    fn snapshot(nodes: &[(&str, &str, usize)]) -> Snapshot {
        Snapshot::from_nodes(nodes.iter().map(|(name, zone, pods)| {
            let mut n = node(name).label("zone", zone).label(HOSTNAME, name).info();
            for i in 0..*pods {
                n.add_pod(pod(&format!("{name}-{i}")).label("app", "web").arc());
            }
            n
        }))
    }

    fn feasible(snap: &Snapshot, p: &PodInfo) -> Vec<String> {
        let mut s = CycleState::new();
        assert_eq!(
            PodTopologySpread::default().pre_filter(&mut s, p, snap),
            Ok(PreFilterResult::Proceed)
        );
        snap.nodes()
            .iter()
            .filter(|n| {
                PodTopologySpread::default()
                    .filter(&s, p, &NodeRef::of(n))
                    .is_ok()
            })
            .map(|n| n.name().to_owned())
            .collect()
    }

    #[test]
    fn hard_constraints_bound_the_skew() {
        // zone a: 2 pods, zone b: 1 pod, zone c: 0 pods.
        let snap = snapshot(&[("n1", "a", 2), ("n2", "b", 1), ("n3", "c", 0)]);
        let p = pod("p")
            .label("app", "web")
            .spread(1, "zone", "DoNotSchedule", "app", "web")
            .info();
        assert_eq!(feasible(&snap, &p), vec!["n3"]);
        let p2 = pod("p")
            .label("app", "web")
            .spread(2, "zone", "DoNotSchedule", "app", "web")
            .info();
        assert_eq!(feasible(&snap, &p2), vec!["n2", "n3"]);
        // A pod that does not match its own selector does not count itself.
        let other = pod("q")
            .spread(1, "zone", "DoNotSchedule", "app", "web")
            .info();
        assert_eq!(feasible(&snap, &other), vec!["n2", "n3"]);
    }

    #[test]
    fn nodes_without_the_key_are_unresolvable() {
        let snap = Snapshot::from_nodes([node("bare").info()]);
        let p = pod("p")
            .spread(1, "zone", "DoNotSchedule", "app", "web")
            .info();
        let mut s = CycleState::new();
        PodTopologySpread::default()
            .pre_filter(&mut s, &p, &snap)
            .unwrap();
        assert_eq!(
            PodTopologySpread::default().filter(&s, &p, &NodeRef::of(&snap.nodes()[0])),
            Err(Rejection::unresolvable(REASON_MISSING_LABEL))
        );
    }

    #[test]
    fn removing_a_pod_updates_the_counts() {
        let snap = snapshot(&[("n1", "a", 1), ("n2", "b", 0)]);
        let p = pod("p")
            .label("app", "web")
            .spread(1, "zone", "DoNotSchedule", "app", "web")
            .info();
        let mut s = CycleState::new();
        PodTopologySpread::default()
            .pre_filter(&mut s, &p, &snap)
            .unwrap();
        let n1 = &snap.nodes()[0];
        assert!(
            PodTopologySpread::default()
                .filter(&s, &p, &NodeRef::of(n1))
                .is_err()
        );
        let victim = Arc::clone(&n1.pods()[0]);
        PodTopologySpread::default().remove_pod(&mut s, &p, &victim, n1);
        assert!(
            PodTopologySpread::default()
                .filter(&s, &p, &NodeRef::of(n1))
                .is_ok()
        );
    }

    #[test]
    fn soft_constraints_prefer_emptier_domains() {
        let snap = snapshot(&[("n1", "a", 3), ("n2", "b", 1), ("n3", "c", 0)]);
        let p = pod("p")
            .label("app", "web")
            .spread(1, "zone", "ScheduleAnyway", "app", "web")
            .info();
        let nodes: Vec<NodeRef<'_>> = snap.nodes().iter().map(|n| NodeRef::of(n)).collect();
        let mut s = CycleState::new();
        assert_eq!(
            PodTopologySpread::default().pre_score(&mut s, &p, &snap, &nodes),
            PreScoreResult::Proceed
        );
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| PodTopologySpread::default().score(&s, &p, n))
            .collect();
        // weight ln(3 + 2) = 1.609: counts 3, 1, 0 -> 5, 2, 0.
        assert_eq!(scores, vec![5, 2, 0]);
        PodTopologySpread::default().normalize(&s, &p, &mut scores);
        // 100 * (5 + 0 - s) / 5.
        assert_eq!(scores, vec![0, 60, 100]);
    }

    #[test]
    fn min_domains_counts_missing_domains_as_empty() {
        // Two zones with one pod each: skew 0. With minDomains 3, fewer domains than asked
        // make the global minimum 0, so a pod matching its own selector cannot be added
        // to a zone that already has maxSkew pods.
        let snap = snapshot(&[("n1", "a", 1), ("n2", "b", 1)]);
        let mut p = pod("p")
            .label("app", "web")
            .spread(1, "zone", "DoNotSchedule", "app", "web")
            .pod();
        assert_eq!(
            feasible(&snap, &PodInfo::new(Arc::new(p.clone()))),
            ["n1", "n2"]
        );
        p.spec.topology_spread_constraints[0].min_domains = Some(3);
        assert!(feasible(&snap, &PodInfo::new(Arc::new(p))).is_empty());
    }

    #[test]
    fn node_affinity_policy_decides_which_nodes_count() {
        // Zone b holds two matching pods but only on a node the pod's selector excludes.
        let snap = Snapshot::from_nodes([
            node("n1").label("zone", "a").label("pool", "x").info(),
            {
                let mut n = node("n2").label("zone", "b").label("pool", "y").info();
                n.add_pod(pod("w1").label("app", "web").arc());
                n.add_pod(pod("w2").label("app", "web").arc());
                n
            },
            node("n3").label("zone", "b").label("pool", "x").info(),
        ]);
        let honor = pod("p")
            .label("app", "web")
            .node_selector("pool", "x")
            .spread(1, "zone", "DoNotSchedule", "app", "web")
            .pod();
        // Honored (the default): n2 does not count, zone b is as empty as zone a, so
        // spreading rejects no node (NodeAffinity rejects n2 on its own).
        assert_eq!(
            feasible(&snap, &PodInfo::new(Arc::new(honor.clone()))),
            ["n1", "n2", "n3"]
        );
        let mut ignore = honor;
        ignore.spec.topology_spread_constraints[0].node_affinity_policy =
            Some(NodeInclusionPolicy::Ignore);
        // Ignored: zone b has 2, zone a 0: only zone a's node.
        assert_eq!(feasible(&snap, &PodInfo::new(Arc::new(ignore))), ["n1"]);
    }
}
