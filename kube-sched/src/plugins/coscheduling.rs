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
