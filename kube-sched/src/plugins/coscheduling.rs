//! Coscheduling: a gang of pods binds all together or not at all. The worked example of
//! extending the framework with Permit.
//!
//! A pod joins a gang with the label [`POD_GROUP_LABEL`]; the gang's size comes from the
//! annotation [`MIN_AVAILABLE_ANNOTATION`] (a pod without it is on its own). Each member
//! is held at Permit until enough members of its gang are assumed or bound; then all
//! waiting members are released together. When a member fails or its wait times out, the
//! whole gang still waiting is rejected, and requeued.

use std::time::Duration;

use kube_core::{BoxError, PodInfo};

use crate::events::ClusterEvent;
use crate::framework::{
    CycleState, Permit, PermitContext, PermitPlugin, Plugin, ReservePlugin, WaitingPods,
};

/// The plugin's name.
pub const NAME: &str = "Coscheduling";
/// The label naming a pod's gang.
pub const POD_GROUP_LABEL: &str = "scheduling.x-k8s.io/pod-group";
/// The annotation giving how many members a gang needs to start.
pub const MIN_AVAILABLE_ANNOTATION: &str = "scheduling.x-k8s.io/min-available";

/// Permit: wait until `min-available` members are placed, then release them all.
/// Unreserve: reject every waiting member of the gang.
#[derive(Clone, Debug)]
pub struct Coscheduling {
    timeout: Duration,
    waiting: WaitingPods,
}

impl Coscheduling {
    /// Members wait at most `timeout` for the rest of their gang. `waiting` must be the
    /// set the scheduler holds pods in ([`crate::FrameworkScheduler::waiting_pods`]).
    pub fn new(timeout: Duration, waiting: WaitingPods) -> Self {
        Self { timeout, waiting }
    }
}

/// The gang of a pod and its size, when it has one.
fn gang(pod: &PodInfo) -> Option<(&str, usize)> {
    let m = &pod.pod().metadata;
    let group = m.labels.get(POD_GROUP_LABEL)?;
    let min = m
        .annotations
        .get(MIN_AVAILABLE_ANNOTATION)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1);
    Some((group.as_str(), min))
}

fn same_gang(a: &PodInfo, group: &str, namespace: Option<&str>) -> bool {
    let m = &a.pod().metadata;
    m.namespace.as_deref() == namespace
        && m.labels.get(POD_GROUP_LABEL).map(String::as_str) == Some(group)
}

impl Plugin for Coscheduling {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[
            ClusterEvent::UNASSIGNED_POD_ADD,
            ClusterEvent::POD_ADD,
            ClusterEvent::NODE_ADD,
        ]
    }
}

impl PermitPlugin for Coscheduling {
    fn permit(&self, _: &CycleState, pod: &PodInfo, _: &str, ctx: &PermitContext<'_>) -> Permit {
        let Some((group, min)) = gang(pod) else {
            return Permit::Allow;
        };
        let ns = pod.pod().metadata.namespace.as_deref();
        // Members assumed or bound so far (waiting members are assumed, so they are in the
        // snapshot), plus this one.
        let placed = ctx
            .snapshot
            .nodes()
            .iter()
            .flat_map(|n| n.pods())
            .filter(|p| p.key() != pod.key() && same_gang(p, group, ns))
            .count()
            + 1;
        if placed < min {
            return Permit::Wait(self.timeout);
        }
        for (other, _) in ctx.waiting.pods() {
            if same_gang(&other, group, ns) {
                ctx.waiting.allow(other.key(), NAME);
            }
        }
        Permit::Allow
    }
}

impl ReservePlugin for Coscheduling {
    fn reserve(&self, _: &mut CycleState, _: &PodInfo, _: &str) -> Result<(), BoxError> {
        Ok(())
    }

    /// A member failed (rejected, timed out, or its binding failed): the members of its
    /// gang still waiting must not bind without it.
    fn unreserve(&self, _: &mut CycleState, pod: &PodInfo, _: &str) {
        let Some((group, _)) = gang(pod) else {
            return;
        };
        let ns = pod.pod().metadata.namespace.as_deref();
        let message = format!("member {} of gang {group} failed", pod.key());
        for (other, _) in self.waiting.pods() {
            if other.key() != pod.key() && same_gang(&other, group, ns) {
                self.waiting.reject(other.key(), NAME, &message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kube_core::Snapshot;

    use super::*;
    use crate::testing::{node, pod};

    fn member(name: &str, size: usize) -> Arc<PodInfo> {
        pod(name)
            .label(POD_GROUP_LABEL, "g")
            .annotation(MIN_AVAILABLE_ANNOTATION, &size.to_string())
            .arc()
    }

    #[test]
    fn members_wait_until_the_gang_is_placed_then_go_together() {
        let waiting = WaitingPods::new();
        let plugin = Coscheduling::new(Duration::from_secs(5), waiting.clone());
        let state = CycleState::new();
        let alone = pod("alone").arc();
        let empty = Snapshot::new();
        let ctx = PermitContext {
            snapshot: &empty,
            waiting: &waiting,
        };
        assert_eq!(plugin.permit(&state, &alone, "n", &ctx), Permit::Allow);

        // The first member: nothing else placed yet, it waits.
        let a = member("a", 3);
        assert_eq!(
            plugin.permit(&state, &a, "n", &ctx),
            Permit::Wait(Duration::from_secs(5))
        );
        let mut a_rx = waiting.add(Arc::clone(&a), "n", vec![NAME]);
        // The third member sees two others assumed on nodes (in the snapshot): the gang is
        // complete, it goes, and the waiting members are released.
        let mut n = node("n").info();
        n.add_pod(Arc::clone(&a));
        n.add_pod(member("b", 3));
        let snap = Snapshot::from_nodes([n]);
        let ctx = PermitContext {
            snapshot: &snap,
            waiting: &waiting,
        };
        assert_eq!(
            plugin.permit(&state, &member("c", 3), "n", &ctx),
            Permit::Allow
        );
        assert_eq!(a_rx.try_recv(), Ok(Ok(())));
        assert!(waiting.is_empty());
    }

    #[test]
    fn a_failed_member_rejects_the_rest_of_its_gang() {
        let waiting = WaitingPods::new();
        let plugin = Coscheduling::new(Duration::from_secs(5), waiting.clone());
        let mut a_rx = waiting.add(member("a", 3), "n", vec![NAME]);
        let mut other_rx = waiting.add(
            pod("x")
                .label(POD_GROUP_LABEL, "other")
                .annotation(MIN_AVAILABLE_ANNOTATION, "2")
                .arc(),
            "n",
            vec![NAME],
        );
        plugin.unreserve(&mut CycleState::new(), &member("b", 3), "n");
        let Ok(Err((plugin_name, message))) = a_rx.try_recv() else {
            panic!("the waiting member must be rejected");
        };
        assert_eq!(plugin_name, NAME);
        assert!(message.contains("gang g"), "{message}");
        assert!(other_rx.try_recv().is_err(), "another gang is left alone");
        assert_eq!(waiting.len(), 1);
    }
}
