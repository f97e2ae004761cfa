//! TaintToleration: a node's `NoSchedule` and `NoExecute` taints keep off pods that do not
//! tolerate them; untolerated `PreferNoSchedule` taints lower the node's score.

use std::borrow::Cow;

use kube_core::{NodeInfo, PodInfo, Snapshot, Taint, TaintEffect, Toleration};

use crate::events::ClusterEvent;
use crate::framework::{
    CycleState, FilterPlugin, NodeRef, Plugin, PreScorePlugin, PreScoreResult, Rejection,
    ScorePlugin, default_normalize_score,
};

/// The plugin's name.
pub const NAME: &str = "TaintToleration";

/// True when `toleration` tolerates `taint`, by Kubernetes' rule: the effects match (or
/// the toleration names none), the keys match (or the toleration names none), and the
/// operator is `Exists`, or `Equal` (the default) with equal values.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    toleration.tolerates(taint)
}

fn tolerations(pod: &PodInfo) -> &[Toleration] {
    &pod.pod().spec.tolerations
}

fn taints(node: &NodeInfo) -> &[Taint] {
    node.node().map_or(&[][..], |n| n.spec.taints.as_slice())
}

/// Filter: every `NoSchedule` / `NoExecute` taint is tolerated. Score: fewer untolerated
/// `PreferNoSchedule` taints is better.
#[derive(Clone, Copy, Debug, Default)]
pub struct TaintToleration;

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NODE_ADD, ClusterEvent::NODE_UPDATE]
    }
}

impl FilterPlugin for TaintToleration {
    #[inline]
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeRef<'_>) -> Result<(), Rejection> {
        if !node.summary().hard_taints {
            return Ok(());
        }
        let taints = taints(node);
        let tols = tolerations(pod);
        for taint in taints {
            if !matches!(
                taint.effect,
                TaintEffect::NoSchedule | TaintEffect::NoExecute
            ) {
                continue;
            }
            if !tols.iter().any(|t| tolerates(t, taint)) {
                return Err(Rejection::unresolvable(Cow::Owned(format!(
                    "node(s) had untolerated taint {{{}: {}}}",
                    taint.key,
                    taint.value.as_deref().unwrap_or("")
                ))));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
struct PreferTolerations(Vec<Toleration>);

impl PreScorePlugin for TaintToleration {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _: &Snapshot,
        nodes: &[NodeRef<'_>],
    ) -> PreScoreResult {
        if !nodes.iter().any(|n| n.summary().prefer_taints) {
            return PreScoreResult::Skip;
        }
        let prefer = tolerations(pod)
            .iter()
            .filter(|t| t.effect.is_none() || t.effect == Some(TaintEffect::PreferNoSchedule))
            .cloned()
            .collect();
        state.write(PreferTolerations(prefer));
        PreScoreResult::Proceed
    }
}

impl ScorePlugin for TaintToleration {
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeRef<'_>) -> i64 {
        if !node.summary().prefer_taints {
            return 0;
        }
        let tols = state
            .read::<PreferTolerations>()
            .map_or(&[][..], |p| p.0.as_slice());
        taints(node)
            .iter()
            .filter(|t| t.effect == TaintEffect::PreferNoSchedule)
            .filter(|t| !tols.iter().any(|tol| tolerates(tol, t)))
            .count() as i64
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        default_normalize_score(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::NodeRef;
    use crate::testing::{node, pod, taint, toleration};

    #[test]
    fn toleration_matching_table() {
        let t = taint("k", "v", "NoSchedule");
        let cases = [
            (toleration("k", "Equal", "v", "NoSchedule"), true),
            (toleration("k", "Equal", "w", "NoSchedule"), false),
            (toleration("k", "", "v", ""), true),
            (toleration("k", "Exists", "", ""), true),
            (toleration("", "Exists", "", ""), true),
            (toleration("k", "Exists", "", "NoExecute"), false),
            (toleration("j", "Exists", "", ""), false),
            (toleration("k", "Bogus", "v", ""), false),
        ];
        for (tol, want) in cases {
            assert_eq!(tolerates(&tol, &t), want, "{tol:?}");
        }
    }

    #[test]
    fn filter_rejects_untolerated_hard_taints_only() {
        let n = node("n")
            .taint(taint("a", "1", "NoSchedule"))
            .taint(taint("b", "2", "PreferNoSchedule"))
            .info();
        let p = pod("p").info();
        let err = TaintToleration
            .filter(&CycleState::new(), &p, &NodeRef::of(&n))
            .unwrap_err();
        assert_eq!(err.reasons, vec!["node(s) had untolerated taint {a: 1}"]);
        let ok = pod("q")
            .toleration(toleration("a", "Equal", "1", "NoSchedule"))
            .info();
        assert!(
            TaintToleration
                .filter(&CycleState::new(), &ok, &NodeRef::of(&n))
                .is_ok()
        );
    }

    #[test]
    fn score_counts_prefer_no_schedule_and_reverses() {
        let a = node("a").info();
        let b = node("b").taint(taint("x", "", "PreferNoSchedule")).arc();
        let c = node("c")
            .taint(taint("x", "", "PreferNoSchedule"))
            .taint(taint("y", "", "PreferNoSchedule"))
            .arc();
        let p = pod("p")
            .toleration(toleration("y", "Exists", "", "PreferNoSchedule"))
            .info();
        let mut s = CycleState::new();
        let a = std::sync::Arc::new(a);
        let nodes = [NodeRef::of(&a), NodeRef::of(&b), NodeRef::of(&c)];
        assert_eq!(
            TaintToleration.pre_score(&mut s, &p, &Snapshot::new(), &nodes),
            PreScoreResult::Proceed
        );
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| TaintToleration.score(&s, &p, n))
            .collect();
        assert_eq!(scores, vec![0, 1, 1]);
        TaintToleration.normalize(&s, &p, &mut scores);
        assert_eq!(scores, vec![100, 0, 0]);
    }

    #[test]
    fn no_execute_filters_and_prefer_no_schedule_does_not() {
        let cases = [
            (taint("k", "v", "NoExecute"), None, false),
            (
                taint("k", "v", "NoExecute"),
                Some(toleration("k", "Exists", "", "NoExecute")),
                true,
            ),
            (
                taint("k", "v", "NoExecute"),
                Some(toleration("k", "Exists", "", "NoSchedule")),
                false,
            ),
            (taint("k", "v", "PreferNoSchedule"), None, true),
        ];
        for (t, tol, fits) in cases {
            let n = node("n").taint(t.clone()).info();
            let mut p = pod("p");
            if let Some(tol) = tol.clone() {
                p = p.toleration(tol);
            }
            let got = TaintToleration.filter(&CycleState::new(), &p.info(), &NodeRef::of(&n));
            assert_eq!(got.is_ok(), fits, "{t:?} with {tol:?}");
        }
    }
}
