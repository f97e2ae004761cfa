//! NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods that tolerate
//! the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use kube_core::{PodInfo, Taint, TaintEffect};

use super::taint_toleration::tolerates;
use crate::events::ClusterEvent;
use crate::framework::{CycleState, FilterPlugin, NodeRef, Plugin, Rejection};

/// The plugin's name.
pub const NAME: &str = "NodeUnschedulable";

/// The reason for a cordoned node.
pub const REASON: &str = "node(s) were unschedulable";

/// The taint key a cordoned node is treated as having.
pub const UNSCHEDULABLE_TAINT_KEY: &str = "node.kubernetes.io/unschedulable";

/// Filter: rejects cordoned nodes unless the pod tolerates them.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NODE_ADD, ClusterEvent::NODE_UPDATE]
    }
}

impl FilterPlugin for NodeUnschedulable {
    #[inline]
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeRef<'_>) -> Result<(), Rejection> {
        let summary = node.summary();
        if !summary.known {
            return Err(Rejection::unresolvable("node(s) had unknown conditions"));
        }
        if !summary.unschedulable {
            return Ok(());
        }
        let taint = Taint {
            key: UNSCHEDULABLE_TAINT_KEY.to_owned(),
            effect: TaintEffect::NoSchedule,
            ..Taint::default()
        };
        let tolerations = &pod.pod().spec.tolerations;
        if tolerations.iter().any(|t| tolerates(t, &taint)) {
            Ok(())
        } else {
            Err(Rejection::unresolvable(REASON))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::NodeRef;
    use crate::testing::{node, pod, toleration};

    #[test]
    fn cordoned_nodes_need_the_toleration() {
        let cases = [
            (false, None, true),
            (true, None, false),
            (
                true,
                Some(toleration(
                    UNSCHEDULABLE_TAINT_KEY,
                    "Exists",
                    "",
                    "NoSchedule",
                )),
                true,
            ),
            (true, Some(toleration("", "Exists", "", "")), true),
            (true, Some(toleration("other", "Exists", "", "")), false),
        ];
        for (cordoned, tol, fits) in cases {
            let n = node("n").unschedulable(cordoned).info();
            let mut p = pod("p");
            if let Some(t) = tol.clone() {
                p = p.toleration(t);
            }
            let got = NodeUnschedulable.filter(&CycleState::new(), &p.info(), &NodeRef::of(&n));
            assert_eq!(got.is_ok(), fits, "cordoned {cordoned}, toleration {tol:?}");
        }
    }
}
