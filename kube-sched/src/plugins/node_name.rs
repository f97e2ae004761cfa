//! NodeName: a pod that names its node (`spec.nodeName`) fits only that node.

use kube_core::{PodInfo, Snapshot};

use crate::events::ClusterEvent;
use crate::framework::{
    CycleState, FilterPlugin, NodeRef, Plugin, PreFilterPlugin, PreFilterResult, Rejection,
};

/// The plugin's name.
pub const NAME: &str = "NodeName";

/// The reason when the node is not the one the pod names.
pub const REASON: &str = "node(s) didn't match the requested node name";

/// Filter: `spec.nodeName`, when set, must be the node's name.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeName;

fn wanted(pod: &PodInfo) -> Option<&str> {
    pod.pod()
        .spec
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NODE_ADD]
    }
}

impl PreFilterPlugin for NodeName {
    /// Its answer for a node depends on that node alone.
    fn node_local(&self) -> bool {
        true
    }

    fn pre_filter(
        &self,
        _: &mut CycleState,
        pod: &PodInfo,
        _: &Snapshot,
    ) -> Result<PreFilterResult, Rejection> {
        Ok(match wanted(pod) {
            None => PreFilterResult::Skip,
            Some(_) => PreFilterResult::Proceed,
        })
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeRef<'_>) -> Result<(), Rejection> {
        match wanted(pod) {
            Some(n) if n != node.name() => Err(Rejection::unresolvable(REASON)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::NodeRef;
    use crate::testing::{node, pod};

    #[test]
    fn node_name_table() {
        let cases = [
            (None, "a", true),
            (Some("a"), "a", true),
            (Some("a"), "b", false),
        ];
        for (want, on, fits) in cases {
            let mut p = pod("p");
            if let Some(w) = want {
                p = p.node_name(w);
            }
            let p = p.info();
            let n = node(on).info();
            let got = NodeName.filter(&CycleState::new(), &p, &NodeRef::of(&n));
            assert_eq!(got.is_ok(), fits, "{want:?} on {on}");
            if let Err(r) = got {
                assert_eq!(r, Rejection::unresolvable(REASON));
            }
        }
    }
}
