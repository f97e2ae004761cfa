//! InterPodAffinity: place pods near (affinity) or away from (anti-affinity) pods that
//! match label selectors, per topology domain; required terms filter, preferred terms
//! score, and existing pods' terms apply to incoming pods too.

use std::sync::Arc;

use kube_core::{NodeInfo, PodAffinityTerm, PodInfo, Snapshot, WeightedPodAffinityTerm};
use parking_lot::Mutex;

use super::domain_memo::{Contribution, DomainMemos, Domains, Interner, bump, domain};
use super::pod_selector::{PodSelector, selector_matches};
use crate::events::ClusterEvent;
use crate::framework::{
    CycleState, FilterPlugin, MAX_NODE_SCORE, NodeRef, Plugin, PreFilterPlugin, PreFilterResult,
    PreScorePlugin, PreScoreResult, Rejection, ScorePlugin,
};

/// The plugin's name.
pub const NAME: &str = "InterPodAffinity";
/// The reason when an existing pod's anti-affinity excludes the incoming pod.
pub const REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
/// The reason when the pod's affinity is not satisfied.
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// The reason when the pod's anti-affinity is not satisfied.
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";

/// The weight of existing pods' required affinity terms when scoring (Kubernetes:
/// `hardPodAffinityWeight`, 1).
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

const EXISTING_ANTI: usize = 0;
const AFFINITY: usize = 1;
const ANTI_AFFINITY: usize = 2;

fn pods_in(counts: &Domains, key: &str, value: &str) -> i64 {
    domain(counts, key, value).map_or(0, |d| d.pods)
}

/// A term of the incoming pod, compiled.
#[derive(Clone, Debug)]
struct Term {
    selector: PodSelector,
    namespaces: Option<Vec<String>>,
    key: String,
    weight: i64,
}

impl Term {
    fn new(t: &PodAffinityTerm, weight: i64, owner: &PodInfo) -> Self {
        let meta = &owner.pod().metadata;
        let mut selector = PodSelector::new(t.label_selector.as_ref());
        for k in &t.match_label_keys {
            if let Some(v) = meta.labels.get(k) {
                selector.require(k, v);
            }
        }
        Self {
            selector,
            namespaces: namespaces(t, meta.namespace.as_deref()),
            key: t.topology_key.clone(),
            weight,
        }
    }

    fn matches(&self, pod: &PodInfo) -> bool {
        let m = &pod.pod().metadata;
        ns_ok(self.namespaces.as_deref(), m.namespace.as_deref())
            && self.selector.matches(&m.labels)
    }
}

/// The namespaces a term applies to: `None` for all, or a list (the owner's namespace when
/// the term names none). A non-empty namespace selector cannot be evaluated without
/// namespace labels and adds nothing.
fn namespaces(t: &PodAffinityTerm, own: Option<&str>) -> Option<Vec<String>> {
    if t.namespace_selector
        .as_ref()
        .is_some_and(|s| s.match_labels.is_empty() && s.match_expressions.is_empty())
    {
        return None;
    }
    if t.namespaces.is_empty() {
        Some(vec![own.unwrap_or("").to_owned()])
    } else {
        Some(t.namespaces.clone())
    }
}

fn ns_ok(list: Option<&[String]>, ns: Option<&str>) -> bool {
    list.is_none_or(|l| l.iter().any(|n| n == ns.unwrap_or("")))
}

/// An existing pod's term against the incoming pod, without compiling it.
fn raw_matches(t: &PodAffinityTerm, owner: &PodInfo, pod: &PodInfo) -> bool {
    let om = &owner.pod().metadata;
    let pm = &pod.pod().metadata;
    let own_ns = om.namespace.as_deref().unwrap_or("");
    let pod_ns = pm.namespace.as_deref().unwrap_or("");
    let ns_match = if t
        .namespace_selector
        .as_ref()
        .is_some_and(|s| s.match_labels.is_empty() && s.match_expressions.is_empty())
    {
        true
    } else if t.namespaces.is_empty() {
        own_ns == pod_ns
    } else {
        t.namespaces.iter().any(|n| n == pod_ns)
    };
    if !ns_match || !selector_matches(t.label_selector.as_ref(), &pm.labels) {
        return false;
    }
    // matchLabelKeys: the owner's values must match too.
    t.match_label_keys
        .iter()
        .all(|k| om.labels.get(k).is_none_or(|v| pm.labels.get(k) == Some(v)))
}

fn label<'a>(node: &'a NodeInfo, key: &str) -> Option<&'a str> {
    node.node()?.metadata.labels.get(key).map(String::as_str)
}

struct PodTerms<'a> {
    req_aff: &'a [PodAffinityTerm],
    req_anti: &'a [PodAffinityTerm],
    pref_aff: &'a [WeightedPodAffinityTerm],
    pref_anti: &'a [WeightedPodAffinityTerm],
}

fn terms(pod: &PodInfo) -> PodTerms<'_> {
    let a = pod.pod().spec.affinity.as_ref();
    let aff = a.and_then(|a| a.pod_affinity.as_ref());
    let anti = a.and_then(|a| a.pod_anti_affinity.as_ref());
    PodTerms {
        req_aff: aff.map_or(&[][..], |x| {
            x.required_during_scheduling_ignored_during_execution
                .as_slice()
        }),
        req_anti: anti.map_or(&[][..], |x| {
            x.required_during_scheduling_ignored_during_execution
                .as_slice()
        }),
        pref_aff: aff.map_or(&[][..], |x| {
            x.preferred_during_scheduling_ignored_during_execution
                .as_slice()
        }),
        pref_anti: anti.map_or(&[][..], |x| {
            x.preferred_during_scheduling_ignored_during_execution
                .as_slice()
        }),
    }
}

/// What the prefilter counts depend on: the pod's namespace and labels (existing pods'
/// terms select on them) and its required terms.
#[derive(Clone, Debug, PartialEq)]
struct FilterSignature {
    namespace: Option<String>,
    labels: std::collections::BTreeMap<String, String>,
    affinity: Vec<PodAffinityTerm>,
    anti_affinity: Vec<PodAffinityTerm>,
}

/// What the prescore weights depend on: the pod's namespace, labels and preferred terms.
#[derive(Clone, Debug, PartialEq)]
struct ScoreSignature {
    namespace: Option<String>,
    labels: std::collections::BTreeMap<String, String>,
    affinity: Vec<WeightedPodAffinityTerm>,
    anti_affinity: Vec<WeightedPodAffinityTerm>,
}

#[derive(Clone, Debug)]
struct FilterState {
    affinity: Vec<Term>,
    anti_affinity: Vec<Term>,
    /// Per counter: domains excluded by existing pods' required anti-affinity; pods
    /// matching all the incoming pod's affinity terms; pods matching each of its
    /// anti-affinity terms.
    counts: Arc<Vec<Domains>>,
}

impl FilterState {
    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        let Some(n) = node.node() else {
            return;
        };
        let labels = &n.metadata.labels;
        let mut changes: Vec<(usize, &str, &str)> = Vec::new();
        for t in terms(other).req_anti {
            if raw_matches(t, other, pod)
                && let Some(v) = labels.get(&t.topology_key)
            {
                changes.push((EXISTING_ANTI, &t.topology_key, v));
            }
        }
        if !self.affinity.is_empty() && self.affinity.iter().all(|t| t.matches(other)) {
            for t in &self.affinity {
                if let Some(v) = labels.get(&t.key) {
                    changes.push((AFFINITY, &t.key, v));
                }
            }
        }
        for t in &self.anti_affinity {
            if t.matches(other)
                && let Some(v) = labels.get(&t.key)
            {
                changes.push((ANTI_AFFINITY, &t.key, v));
            }
        }
        if changes.is_empty() {
            return;
        }
        let counts = Arc::make_mut(&mut self.counts);
        for (counter, key, value) in changes {
            bump(
                &mut counts[counter],
                &Arc::from(key),
                &Arc::from(value),
                delta,
                0,
            );
        }
    }
}

/// What one node adds to the prefilter's counters.
fn filter_contribution(
    pod: &PodInfo,
    affinity: &[Term],
    anti_affinity: &[Term],
    node: &NodeInfo,
    interner: &mut Interner,
    out: &mut Contribution,
) {
    let Some(n) = node.node() else { return };
    let labels = &n.metadata.labels;
    for ep in node.pods() {
        if ep.has_required_anti_affinity() {
            for term in terms(ep).req_anti {
                if raw_matches(term, ep, pod)
                    && let Some(v) = labels.get(&term.topology_key)
                {
                    out.0.push((
                        EXISTING_ANTI as u32,
                        interner.get(&term.topology_key),
                        interner.get(v),
                        1,
                    ));
                }
            }
        }
        if !affinity.is_empty() && affinity.iter().all(|t| t.matches(ep)) {
            for t in affinity {
                if let Some(v) = labels.get(&t.key) {
                    out.0
                        .push((AFFINITY as u32, interner.get(&t.key), interner.get(v), 1));
                }
            }
        }
        for t in anti_affinity {
            if t.matches(ep)
                && let Some(v) = labels.get(&t.key)
            {
                out.0.push((
                    ANTI_AFFINITY as u32,
                    interner.get(&t.key),
                    interner.get(v),
                    1,
                ));
            }
        }
    }
}

/// Filter and Score by pod affinity and anti-affinity.
#[derive(Debug, Default)]
pub struct InterPodAffinity {
    filter_memo: Mutex<DomainMemos<FilterSignature>>,
    score_memo: Mutex<DomainMemos<ScoreSignature>>,
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[
            ClusterEvent::NODE_ADD,
            ClusterEvent::NODE_UPDATE,
            ClusterEvent::POD_ADD,
            ClusterEvent::POD_UPDATE,
            ClusterEvent::POD_DELETE,
        ]
    }
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<PreFilterResult, Rejection> {
        let t = terms(pod);
        if t.req_aff.is_empty()
            && t.req_anti.is_empty()
            && snapshot
                .nodes_with_required_anti_affinity()
                .next()
                .is_none()
        {
            return Ok(PreFilterResult::Skip);
        }
        let affinity: Vec<Term> = t.req_aff.iter().map(|x| Term::new(x, 0, pod)).collect();
        let anti_affinity: Vec<Term> = t.req_anti.iter().map(|x| Term::new(x, 0, pod)).collect();
        let meta = &pod.pod().metadata;
        let signature = FilterSignature {
            namespace: meta.namespace.clone(),
            labels: meta.labels.clone(),
            affinity: t.req_aff.to_vec(),
            anti_affinity: t.req_anti.to_vec(),
        };
        let counts =
            self.filter_memo
                .lock()
                .totals(signature, 3, snapshot, |node, interner, out| {
                    filter_contribution(pod, &affinity, &anti_affinity, node, interner, out);
                });
        if affinity.is_empty() && anti_affinity.is_empty() && counts[EXISTING_ANTI].is_empty() {
            return Ok(PreFilterResult::Skip);
        }
        state.write(FilterState {
            affinity,
            anti_affinity,
            counts,
        });
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

impl FilterPlugin for InterPodAffinity {
    fn filter(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeRef<'_>,
    ) -> Result<(), Rejection> {
        let Some(s) = state.read::<FilterState>() else {
            return Ok(());
        };
        let Some(n) = node.node() else {
            return Err(Rejection::unresolvable("node not found"));
        };
        let labels = &n.metadata.labels;
        for (key, by_value) in &s.counts[EXISTING_ANTI] {
            if let Some(v) = labels.get(&**key)
                && by_value.get(v.as_str()).is_some_and(|d| d.pods > 0)
            {
                return Err(Rejection::unschedulable(REASON_EXISTING_ANTI_AFFINITY));
            }
        }
        for t in &s.anti_affinity {
            if let Some(v) = labels.get(&t.key)
                && pods_in(&s.counts[ANTI_AFFINITY], &t.key, v) > 0
            {
                return Err(Rejection::unschedulable(REASON_ANTI_AFFINITY));
            }
        }
        if !s.affinity.is_empty() {
            let mut pods_exist = true;
            for t in &s.affinity {
                match labels.get(&t.key) {
                    None => return Err(Rejection::unresolvable(REASON_AFFINITY)),
                    Some(v) => {
                        if pods_in(&s.counts[AFFINITY], &t.key, v) <= 0 {
                            pods_exist = false;
                        }
                    }
                }
            }
            if !pods_exist {
                // The first pod of a group that selects itself may go anywhere.
                let none_anywhere = s.counts[AFFINITY]
                    .values()
                    .all(|m| m.values().all(|d| d.pods <= 0));
                if !(none_anywhere && s.affinity.iter().all(|t| t.matches(pod))) {
                    return Err(Rejection::unresolvable(REASON_AFFINITY));
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
struct ScoreState(Arc<Vec<Domains>>);

/// What one node adds to the prescore's weights: the incoming pod's preferred terms
/// against the node's pods, and the node's pods' terms against the incoming pod.
fn score_contribution(
    pod: &PodInfo,
    pref_aff: &[Term],
    pref_anti: &[Term],
    node: &NodeInfo,
    interner: &mut Interner,
    out: &mut Contribution,
) {
    let Some(n) = node.node() else { return };
    let labels = &n.metadata.labels;
    let has_pref = !pref_aff.is_empty() || !pref_anti.is_empty();
    let mut add = |key: &str, weight: i64| {
        if let Some(v) = labels.get(key) {
            out.0.push((0, interner.get(key), interner.get(v), weight));
        }
    };
    for ep in node.pods() {
        if !has_pref && !ep.has_affinity() {
            continue;
        }
        for t in pref_aff {
            if t.matches(ep) {
                add(&t.key, t.weight);
            }
        }
        for t in pref_anti {
            if t.matches(ep) {
                add(&t.key, -t.weight);
            }
        }
        if !ep.has_affinity() {
            continue;
        }
        let et = terms(ep);
        for t in et.req_aff {
            if raw_matches(t, ep, pod) {
                add(&t.topology_key, HARD_POD_AFFINITY_WEIGHT);
            }
        }
        for w in et.pref_aff {
            if raw_matches(&w.pod_affinity_term, ep, pod) {
                add(&w.pod_affinity_term.topology_key, i64::from(w.weight));
            }
        }
        for w in et.pref_anti {
            if raw_matches(&w.pod_affinity_term, ep, pod) {
                add(&w.pod_affinity_term.topology_key, -i64::from(w.weight));
            }
        }
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        _: &[NodeRef<'_>],
    ) -> PreScoreResult {
        let t = terms(pod);
        let has_pref = !t.pref_aff.is_empty() || !t.pref_anti.is_empty();
        if !has_pref && snapshot.nodes_with_affinity().next().is_none() {
            return PreScoreResult::Skip;
        }
        let pref_aff: Vec<Term> = t
            .pref_aff
            .iter()
            .map(|w| Term::new(&w.pod_affinity_term, i64::from(w.weight), pod))
            .collect();
        let pref_anti: Vec<Term> = t
            .pref_anti
            .iter()
            .map(|w| Term::new(&w.pod_affinity_term, i64::from(w.weight), pod))
            .collect();
        let meta = &pod.pod().metadata;
        let signature = ScoreSignature {
            namespace: meta.namespace.clone(),
            labels: meta.labels.clone(),
            affinity: t.pref_aff.to_vec(),
            anti_affinity: t.pref_anti.to_vec(),
        };
        let scores =
            self.score_memo
                .lock()
                .totals(signature, 1, snapshot, |node, interner, out| {
                    score_contribution(pod, &pref_aff, &pref_anti, node, interner, out);
                });
        if scores[0].is_empty() {
            return PreScoreResult::Skip;
        }
        state.write(ScoreState(scores));
        PreScoreResult::Proceed
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeRef<'_>) -> i64 {
        let Some(s) = state.read::<ScoreState>() else {
            return 0;
        };
        s.0[0]
            .iter()
            .filter_map(|(key, by_value)| {
                label(node, key).and_then(|v| by_value.get(v).map(|d| d.pods))
            })
            .sum()
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        let min = scores.iter().copied().min().unwrap_or(0);
        let max = scores.iter().copied().max().unwrap_or(0);
        let diff = max - min;
        for s in scores {
            *s = if diff > 0 {
                MAX_NODE_SCORE * (*s - min) / diff
            } else {
                0
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::NodeRef;
    use crate::testing::{node, pod};

    const HOST: &str = "kubernetes.io/hostname";

    fn snap(nodes: &[(&str, &str, &[&str])]) -> Snapshot {
        Snapshot::from_nodes(nodes.iter().map(|(name, zone, apps)| {
            let mut n = node(name).label("zone", zone).label(HOST, name).info();
            for (i, app) in apps.iter().enumerate() {
                n.add_pod(pod(&format!("{name}-{i}")).label("app", app).arc());
            }
            n
        }))
    }

    fn feasible(s: &Snapshot, p: &PodInfo) -> Vec<String> {
        let mut st = CycleState::new();
        match InterPodAffinity::default().pre_filter(&mut st, p, s) {
            Ok(PreFilterResult::Skip) => st.skip_filter.push(NAME),
            Ok(_) => {}
            Err(e) => panic!("{e:?}"),
        }
        s.nodes()
            .iter()
            .filter(|n| {
                st.skips_filter(NAME)
                    || InterPodAffinity::default()
                        .filter(&st, p, &NodeRef::of(n))
                        .is_ok()
            })
            .map(|n| n.name().to_owned())
            .collect()
    }

    #[test]
    fn required_affinity_and_anti_affinity() {
        let s = snap(&[
            ("n1", "a", &["db"]),
            ("n2", "a", &[]),
            ("n3", "b", &["web"]),
        ]);
        let cases: Vec<(PodInfo, Vec<&str>)> = vec![
            (pod("p").info(), vec!["n1", "n2", "n3"]),
            (
                pod("p").affinity("app", "db", "zone").info(),
                vec!["n1", "n2"],
            ),
            (pod("p").affinity("app", "db", HOST).info(), vec!["n1"]),
            (
                pod("p").anti_affinity("app", "db", "zone").info(),
                vec!["n3"],
            ),
            (
                pod("p").anti_affinity("app", "web", HOST).info(),
                vec!["n1", "n2"],
            ),
            // No pod matches anywhere: only a pod matching its own term may go first.
            (pod("p").affinity("app", "cache", "zone").info(), vec![]),
            (
                pod("p")
                    .label("app", "cache")
                    .affinity("app", "cache", "zone")
                    .info(),
                vec!["n1", "n2", "n3"],
            ),
        ];
        for (i, (p, want)) in cases.into_iter().enumerate() {
            assert_eq!(feasible(&s, &p), want, "case {i}");
        }
    }

    #[test]
    fn existing_pods_anti_affinity_applies_to_newcomers() {
        let mut n1 = node("n1").label("zone", "a").info();
        n1.add_pod(pod("guard").anti_affinity("app", "web", "zone").arc());
        let n2 = node("n2").label("zone", "a").info();
        let n3 = node("n3").label("zone", "b").info();
        let s = Snapshot::from_nodes([n1, n2, n3]);
        let web = pod("w").label("app", "web").info();
        assert_eq!(feasible(&s, &web), vec!["n3"]);
        let other = pod("o").label("app", "db").info();
        assert_eq!(feasible(&s, &other), vec!["n1", "n2", "n3"]);
    }

    #[test]
    fn preferred_terms_score_by_domain() {
        let s = snap(&[
            ("n1", "a", &["db"]),
            ("n2", "a", &[]),
            ("n3", "b", &["web"]),
        ]);
        let p = pod("p")
            .preferred_affinity(10, "app", "db", "zone")
            .preferred_anti_affinity(5, "app", "web", "zone")
            .info();
        let nodes: Vec<NodeRef<'_>> = s.nodes().iter().map(|n| NodeRef::of(n)).collect();
        let mut st = CycleState::new();
        assert_eq!(
            InterPodAffinity::default().pre_score(&mut st, &p, &s, &nodes),
            PreScoreResult::Proceed
        );
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| InterPodAffinity::default().score(&st, &p, n))
            .collect();
        assert_eq!(scores, vec![10, 10, -5]);
        InterPodAffinity::default().normalize(&st, &p, &mut scores);
        assert_eq!(scores, vec![100, 100, 0]);
    }

    #[test]
    fn terms_apply_to_their_namespaces() {
        let mut n1 = node("n1").label("zone", "a").info();
        n1.add_pod(pod("db").namespace("data").label("app", "db").arc());
        let n2 = node("n2").label("zone", "b").info();
        let s = Snapshot::from_nodes([n1, n2]);
        // Same namespace by default: the pod in "data" is not seen from "default".
        let p = pod("p").anti_affinity("app", "db", "zone").info();
        assert_eq!(feasible(&s, &p), ["n1", "n2"]);
        let mut listed = pod("p").anti_affinity("app", "db", "zone").pod();
        if let Some(anti) = listed
            .spec
            .affinity
            .as_mut()
            .and_then(|a| a.pod_anti_affinity.as_mut())
        {
            anti.required_during_scheduling_ignored_during_execution[0].namespaces =
                vec!["data".into()];
        }
        assert_eq!(feasible(&s, &PodInfo::new(Arc::new(listed))), ["n2"]);
        // An empty namespace selector means every namespace.
        let mut all = pod("p").anti_affinity("app", "db", "zone").pod();
        if let Some(anti) = all
            .spec
            .affinity
            .as_mut()
            .and_then(|a| a.pod_anti_affinity.as_mut())
        {
            anti.required_during_scheduling_ignored_during_execution[0].namespace_selector =
                Some(kube_core::LabelSelector::default());
        }
        assert_eq!(feasible(&s, &PodInfo::new(Arc::new(all))), ["n2"]);
    }

    #[test]
    fn existing_pods_preferred_terms_score_the_incoming_pod() {
        let mut n1 = node("n1").label("zone", "a").info();
        n1.add_pod(
            pod("likes-web")
                .preferred_affinity(8, "app", "web", "zone")
                .arc(),
        );
        let n2 = node("n2").label("zone", "b").info();
        let s = Snapshot::from_nodes([n1, n2]);
        let web = pod("w").label("app", "web").info();
        let nodes: Vec<NodeRef<'_>> = s.nodes().iter().map(|n| NodeRef::of(n)).collect();
        let plugin = InterPodAffinity::default();
        let mut st = CycleState::new();
        assert_eq!(
            plugin.pre_score(&mut st, &web, &s, &nodes),
            PreScoreResult::Proceed
        );
        let scores: Vec<i64> = nodes.iter().map(|n| plugin.score(&st, &web, n)).collect();
        assert_eq!(scores, [8, 0]);
    }
}
