//! NodePorts: the host ports a pod asks for must be free on the node.

use kube_core::{PodInfo, Snapshot};

use crate::events::ClusterEvent;
use crate::framework::{
    CycleState, FilterPlugin, NodeRef, Plugin, PreFilterPlugin, PreFilterResult, Rejection,
};

/// The plugin's name.
pub const NAME: &str = "NodePorts";

/// The reason when a host port is taken.
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// Filter: no host port of the pod conflicts (same protocol and port, same IP or either
/// on all addresses) with one in use on the node.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NODE_ADD, ClusterEvent::POD_DELETE]
    }
}

impl PreFilterPlugin for NodePorts {
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
        Ok(if pod.host_ports().is_empty() {
            PreFilterResult::Skip
        } else {
            PreFilterResult::Proceed
        })
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeRef<'_>) -> Result<(), Rejection> {
        let used = node.used_ports();
        if pod
            .host_ports()
            .iter()
            .any(|want| used.iter().any(|u| u.conflicts(want)))
        {
            Err(Rejection::unschedulable(REASON))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::NodeRef;
    use crate::testing::{node, pod};

    #[test]
    fn host_port_conflicts() {
        // (used ip, used port, used proto, wanted ip, wanted port, wanted proto, fits)
        let cases = [
            ("", 80, "TCP", "", 80, "TCP", false),
            ("", 80, "TCP", "", 81, "TCP", true),
            ("", 80, "TCP", "", 80, "UDP", true),
            ("10.0.0.1", 80, "TCP", "10.0.0.2", 80, "TCP", true),
            ("10.0.0.1", 80, "TCP", "10.0.0.1", 80, "TCP", false),
            ("0.0.0.0", 80, "TCP", "10.0.0.2", 80, "TCP", false),
            ("10.0.0.1", 80, "TCP", "", 80, "TCP", false),
        ];
        for (uip, up, upr, wip, wp, wpr, fits) in cases {
            let mut n = node("n").info();
            n.add_pod(pod("used").host_port(uip, up, upr).arc());
            let p = pod("p").host_port(wip, wp, wpr).info();
            let got = NodePorts.filter(&CycleState::new(), &p, &NodeRef::of(&n));
            assert_eq!(got.is_ok(), fits, "{uip}:{up}/{upr} vs {wip}:{wp}/{wpr}");
        }
        let none = pod("q").info();
        assert_eq!(
            NodePorts.pre_filter(&mut CycleState::new(), &none, &Snapshot::new()),
            Ok(PreFilterResult::Skip)
        );
    }
}
