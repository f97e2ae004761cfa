//! NodeResourcesBalancedAllocation: prefer nodes whose resources would be used in equal
//! proportions once the pod is placed.

use kube_core::PodInfo;

use super::node_resources_fit::ResourceName;
use crate::events::ClusterEvent;
use crate::framework::{CycleState, MAX_NODE_SCORE, NodeRef, Plugin, ScorePlugin};

/// The plugin's name.
pub const NAME: &str = "NodeResourcesBalancedAllocation";

/// Score: `(1 - standard deviation of the requested fractions) * 100` over CPU and memory
/// (fractions capped at 1; resources the node does not offer are left out).
#[derive(Clone, Debug)]
pub struct BalancedAllocation {
    resources: Vec<ResourceName>,
}

impl Default for BalancedAllocation {
    fn default() -> Self {
        Self {
            resources: vec![ResourceName::Cpu, ResourceName::Memory],
        }
    }
}

impl Plugin for BalancedAllocation {
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

impl ScorePlugin for BalancedAllocation {
    #[inline]
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeRef<'_>) -> i64 {
        let mut fractions = [0f64; 8];
        let mut n = 0;
        for r in &self.resources {
            let (capacity, requested) = r.amounts(pod, node, false);
            if capacity <= 0 || n == fractions.len() {
                continue;
            }
            fractions[n] = (requested as f64 / capacity as f64).min(1.0);
            n += 1;
        }
        let fractions = &fractions[..n];
        let std = match fractions {
            [] | [_] => 0.0,
            [a, b] => (a - b).abs() / 2.0,
            _ => {
                let mean = fractions.iter().sum::<f64>() / n as f64;
                let var = fractions
                    .iter()
                    .map(|f| (f - mean) * (f - mean))
                    .sum::<f64>()
                    / n as f64;
                var.sqrt()
            }
        };
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }

    fn score_nodes(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[NodeRef<'_>],
        out: &mut [i64],
    ) {
        let [ResourceName::Cpu, ResourceName::Memory] = self.resources.as_slice() else {
            for (o, n) in out.iter_mut().zip(nodes) {
                *o = self.score(state, pod, n);
            }
            return;
        };
        let want = pod.requests();
        let (pc, pm) = (want.milli_cpu, want.memory);
        for (o, n) in out.iter_mut().zip(nodes) {
            let s = n.summary();
            let fraction =
                |requested: i64, capacity: i64| (requested as f64 / capacity as f64).min(1.0);
            let std = if s.allocatable_milli_cpu > 0 && s.allocatable_memory > 0 {
                let cpu = fraction(s.requested_milli_cpu + pc, s.allocatable_milli_cpu);
                let mem = fraction(s.requested_memory + pm, s.allocatable_memory);
                (cpu - mem).abs() / 2.0
            } else {
                0.0
            };
            *o = ((1.0 - std) * MAX_NODE_SCORE as f64) as i64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::NodeRef;
    use crate::testing::{node, pod};

    #[test]
    fn balanced_scores_follow_the_spread_of_fractions() {
        let cases = [
            // (node cpu, node mem, pod cpu, pod mem, score)
            ("4", "4Gi", "1", "1Gi", 100),
            ("4", "4Gi", "2", "0", 75),
            ("4", "4Gi", "4", "0", 50),
            ("4", "4Gi", "8", "0", 50),
            ("4", "4Gi", "0", "0", 100),
        ];
        for (nc, nm, pc, pm, want) in cases {
            let n = node("n").cpu(nc).memory(nm).info();
            let p = pod("p").requests(pc, pm).info();
            assert_eq!(
                BalancedAllocation::default().score(&CycleState::new(), &p, &NodeRef::of(&n)),
                want,
                "{pc}/{pm} on {nc}/{nm}"
            );
        }
    }
}
