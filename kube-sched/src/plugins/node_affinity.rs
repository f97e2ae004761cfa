//! NodeAffinity: `spec.nodeSelector` and required node affinity must match the node;
//! preferred node affinity terms add their weights to the node's score.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube_core::{
    NodeInfo, NodeSelector, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm,
    PodInfo, PreferredSchedulingTerm, Snapshot,
};
use parking_lot::Mutex;

use super::node_memo::NodeValues;
use crate::events::ClusterEvent;
use crate::framework::{
    CycleState, FilterPlugin, NodeRef, Plugin, PreFilterPlugin, PreFilterResult, PreScorePlugin,
    PreScoreResult, Rejection, ScorePlugin, default_normalize_score,
};

/// The plugin's name.
pub const NAME: &str = "NodeAffinity";

/// The reason when the node does not match.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// True when one requirement holds for a node with these labels. Operators: `In`,
/// `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt` (integers); invalid requirements never
/// match.
pub fn requirement_matches(
    req: &NodeSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> bool {
    req.matches(labels)
}

/// A field requirement on the node's name (`metadata.name`, the only field), without
/// allocating.
fn name_matches(req: &NodeSelectorRequirement, name: &str) -> bool {
    if req.key != "metadata.name" {
        return false;
    }
    let has = req.values.iter().any(|v| v == name);
    match req.operator {
        NodeSelectorOperator::In => has,
        NodeSelectorOperator::NotIn => !req.values.is_empty() && !has,
        NodeSelectorOperator::Exists => req.values.is_empty(),
        _ => false,
    }
}

/// True when a term matches: all its label expressions and all its field expressions
/// (only `metadata.name` is a field). A term with neither matches nothing.
pub fn term_matches(
    term: &NodeSelectorTerm,
    labels: &BTreeMap<String, String>,
    name: &str,
) -> bool {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return false;
    }
    term.match_expressions.iter().all(|r| r.matches(labels))
        && term.match_fields.iter().all(|r| name_matches(r, name))
}

/// True when any term of the selector matches.
pub fn selector_matches(sel: &NodeSelector, labels: &BTreeMap<String, String>, name: &str) -> bool {
    sel.node_selector_terms
        .iter()
        .any(|t| term_matches(t, labels, name))
}

/// True when the node satisfies the pod's `nodeSelector` and required node affinity.
pub fn pod_matches_node(pod: &PodInfo, node: &NodeInfo) -> bool {
    let Some(n) = node.node() else {
        return false;
    };
    let spec = &pod.pod().spec;
    let labels = &n.metadata.labels;
    if !spec
        .node_selector
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    match required(pod) {
        Some(sel) => selector_matches(sel, labels, node.name()),
        None => true,
    }
}

fn required(pod: &PodInfo) -> Option<&NodeSelector> {
    pod.pod()
        .spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()
}

fn preferred(pod: &PodInfo) -> &[PreferredSchedulingTerm] {
    pod.pod()
        .spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .map_or(&[][..], |n| {
            n.preferred_during_scheduling_ignored_during_execution
                .as_slice()
        })
}

/// What the filter's answer depends on: the node selector and the required terms.
#[derive(Clone, Debug, PartialEq)]
struct Required {
    node_selector: BTreeMap<String, String>,
    required: Option<NodeSelector>,
}

/// Whether each node of the cycle's snapshot matches the pod (by position).
#[derive(Clone, Debug)]
struct Matches(Arc<Vec<bool>>);

/// Each node's summed preferred weights (by position).
#[derive(Clone, Debug)]
struct Preferred(Arc<Vec<i64>>);

/// The summed weights of the preferred terms the node matches.
fn preferred_score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let Some(n) = node.node() else {
        return 0;
    };
    preferred(pod)
        .iter()
        .filter(|t| t.weight != 0 && term_matches(&t.preference, &n.metadata.labels, node.name()))
        .map(|t| i64::from(t.weight))
        .sum()
}

/// Filter: node selector and required terms. Score: the sum of the weights of the
/// preferred terms the node matches, scaled so the best node gets 100. Both answers are
/// kept per node from cycle to cycle for the pods that share them.
#[derive(Debug, Default)]
pub struct NodeAffinity {
    matches: Mutex<NodeValues<Required, bool>>,
    scores: Mutex<NodeValues<Vec<PreferredSchedulingTerm>, i64>>,
}

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NODE_ADD, ClusterEvent::NODE_UPDATE]
    }
}

impl PreFilterPlugin for NodeAffinity {
    /// Its answer for a node depends on that node alone.
    fn node_local(&self) -> bool {
        true
    }

    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<PreFilterResult, Rejection> {
        if pod.pod().spec.node_selector.is_empty() && required(pod).is_none() {
            return Ok(PreFilterResult::Skip);
        }
        let signature = Required {
            node_selector: pod.pod().spec.node_selector.clone(),
            required: required(pod).cloned(),
        };
        let matches = self
            .matches
            .lock()
            .values(signature, snapshot, |n| pod_matches_node(pod, n));
        state.write(Matches(matches));
        // Terms that pin the pod to named nodes (matchFields metadata.name In [...]) in
        // every term narrow the nodes to check.
        if let Some(sel) = required(pod) {
            let mut names = std::collections::HashSet::new();
            for term in &sel.node_selector_terms {
                let pinned = term
                    .match_fields
                    .iter()
                    .find(|r| r.key == "metadata.name" && r.operator == NodeSelectorOperator::In);
                match pinned {
                    Some(r) => names.extend(r.values.iter().cloned()),
                    None => return Ok(PreFilterResult::Proceed),
                }
            }
            if !names.is_empty() {
                return Ok(PreFilterResult::Nodes(names));
            }
        }
        Ok(PreFilterResult::Proceed)
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeRef<'_>,
    ) -> Result<(), Rejection> {
        let known = node
            .position()
            .and_then(|at| state.read::<Matches>()?.0.get(at).copied());
        if known.unwrap_or_else(|| pod_matches_node(pod, node)) {
            Ok(())
        } else {
            Err(Rejection::unresolvable(REASON))
        }
    }
}

impl PreScorePlugin for NodeAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        _: &[NodeRef<'_>],
    ) -> PreScoreResult {
        let terms = preferred(pod);
        if terms.is_empty() {
            return PreScoreResult::Skip;
        }
        let scores = self
            .scores
            .lock()
            .values(terms.to_vec(), snapshot, |n| preferred_score(pod, n));
        state.write(Preferred(scores));
        PreScoreResult::Proceed
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeRef<'_>) -> i64 {
        node.position()
            .and_then(|at| state.read::<Preferred>()?.0.get(at).copied())
            .unwrap_or_else(|| preferred_score(pod, node))
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        default_normalize_score(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::NodeRef;
    use crate::testing::{node, node_requirement, pod};

    #[test]
    fn requirement_operators() {
        let labels = BTreeMap::from([
            ("zone".to_owned(), "a".to_owned()),
            ("gen".to_owned(), "5".to_owned()),
        ]);
        let cases = [
            ("zone", "In", vec!["a", "b"], true),
            ("zone", "In", vec!["b"], false),
            ("zone", "NotIn", vec!["b"], true),
            ("zone", "NotIn", vec!["a"], false),
            ("missing", "NotIn", vec!["a"], true),
            ("zone", "Exists", vec![], true),
            ("missing", "Exists", vec![], false),
            ("missing", "DoesNotExist", vec![], true),
            ("gen", "Gt", vec!["4"], true),
            ("gen", "Gt", vec!["5"], false),
            ("gen", "Lt", vec!["6"], true),
            ("zone", "Gt", vec!["1"], false),
            ("zone", "Sideways", vec!["a"], false),
        ];
        for (key, op, values, want) in cases {
            let req = node_requirement(key, op, &values);
            assert_eq!(
                requirement_matches(&req, &labels),
                want,
                "{key} {op} {values:?}"
            );
        }
    }

    #[test]
    fn filter_checks_selector_and_required_terms() {
        let n = node("n1").label("zone", "a").label("disk", "ssd").info();
        let cases = [
            (pod("p"), true),
            (pod("p").node_selector("zone", "a"), true),
            (pod("p").node_selector("zone", "b"), false),
            (
                pod("p").required_node_term(&[("disk", "In", &["ssd"])]),
                true,
            ),
            (
                pod("p").required_node_term(&[("disk", "In", &["hdd"])]),
                false,
            ),
            (
                pod("p")
                    .required_node_term(&[("disk", "In", &["hdd"])])
                    .required_node_term(&[("zone", "Exists", &[])]),
                true,
            ),
        ];
        for (i, (p, fits)) in cases.into_iter().enumerate() {
            let got =
                NodeAffinity::default().filter(&CycleState::new(), &p.info(), &NodeRef::of(&n));
            assert_eq!(got.is_ok(), fits, "case {i}");
            if let Err(r) = got {
                assert_eq!(r, Rejection::unresolvable(REASON));
            }
        }
    }

    #[test]
    fn preferred_terms_score_by_weight() {
        let p = pod("p")
            .preferred_node_term(5, &[("zone", "In", &["a"])])
            .preferred_node_term(3, &[("disk", "In", &["ssd"])])
            .info();
        let nodes = [
            node("a").label("zone", "a").label("disk", "ssd").info(),
            node("b").label("zone", "a").info(),
            node("c").label("disk", "ssd").info(),
            node("d").info(),
        ];
        let s = CycleState::new();
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| NodeAffinity::default().score(&s, &p, &NodeRef::of(n)))
            .collect();
        assert_eq!(scores, vec![8, 5, 3, 0]);
        NodeAffinity::default().normalize(&s, &p, &mut scores);
        assert_eq!(scores, vec![100, 62, 37, 0]);
    }

    #[test]
    fn match_fields_pin_nodes_and_terms_are_ored() {
        use kube_core::{NodeSelectorTerm, Snapshot};
        let mut p = pod("p").pod();
        let sel = NodeSelector {
            node_selector_terms: vec![
                NodeSelectorTerm {
                    match_expressions: vec![],
                    match_fields: vec![node_requirement("metadata.name", "In", &["n2"])],
                },
                NodeSelectorTerm {
                    match_expressions: vec![],
                    match_fields: vec![node_requirement("metadata.name", "In", &["n3"])],
                },
            ],
        };
        p.spec.affinity = Some(kube_core::Affinity {
            node_affinity: Some(kube_core::NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(sel),
                ..Default::default()
            }),
            ..Default::default()
        });
        let p = PodInfo::new(Arc::new(p));
        let snap = Snapshot::from_nodes([node("n1").info(), node("n2").info(), node("n3").info()]);
        let plugin = NodeAffinity::default();
        let mut s = CycleState::new();
        let Ok(PreFilterResult::Nodes(names)) = plugin.pre_filter(&mut s, &p, &snap) else {
            panic!("pinned terms narrow the nodes");
        };
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        assert_eq!(names, ["n2", "n3"]);
        let fits: Vec<bool> = snap
            .nodes()
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let summary = crate::framework::NodeSummary::of(n);
                plugin.filter(&s, &p, &NodeRef::at(n, summary, i)).is_ok()
            })
            .collect();
        assert_eq!(fits, [false, true, true]);
        // An empty term matches nothing; a NotIn field term excludes.
        let empty = NodeSelectorTerm::default();
        assert!(!term_matches(&empty, &BTreeMap::new(), "n1"));
        let not_n1 = NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: vec![node_requirement("metadata.name", "NotIn", &["n1"])],
        };
        assert!(!term_matches(&not_n1, &BTreeMap::new(), "n1"));
        assert!(term_matches(&not_n1, &BTreeMap::new(), "n2"));
    }

    #[test]
    fn remembered_answers_follow_node_changes() {
        use kube_core::Snapshot;
        let p = pod("p").node_selector("disk", "ssd").info();
        let plugin = NodeAffinity::default();
        let check = |snap: &Snapshot| -> Vec<bool> {
            let mut s = CycleState::new();
            plugin.pre_filter(&mut s, &p, snap).unwrap();
            snap.nodes()
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let summary = crate::framework::NodeSummary::of(n);
                    plugin.filter(&s, &p, &NodeRef::at(n, summary, i)).is_ok()
                })
                .collect()
        };
        let mut snap =
            Snapshot::from_nodes([node("a").label("disk", "ssd").info(), node("b").info()]);
        assert_eq!(check(&snap), [true, false]);
        snap.upsert(Arc::new(node("b").label("disk", "ssd").info()));
        assert_eq!(check(&snap), [true, true]);
        snap.upsert(Arc::new(node("a").info()));
        assert_eq!(check(&snap), [false, true]);
    }
}
