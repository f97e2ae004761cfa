//! The binding cycle: Reserve, Permit (allow, reject, or wait with a timeout), PreBind,
//! Bind, PostBind; Unreserve in reverse order whenever a step after Reserve fails.

use std::sync::Arc;
use std::time::Duration;

use kube_core::{PodInfo, Snapshot};
use tokio::sync::oneshot;

use super::plugin::{BindResult, Permit, PermitContext};
use super::profile::Profile;
use super::scheduler::FrameworkScheduler;
use super::state::CycleState;
use super::waiting::Verdict;
#[cfg(doc)]
use super::waiting::WaitingPods;
use crate::error::{Error, Result};

/// What Permit decided for an assumed pod.
#[derive(Debug)]
pub enum PermitOutcome {
    /// Every Permit plugin allowed the pod.
    Allowed,
    /// Some plugins hold the pod; the receiver gets the verdict, unless the timeout passes
    /// first.
    Wait(oneshot::Receiver<Verdict>, Duration),
}

impl FrameworkScheduler {
    fn profile_or_err(&self, pod: &PodInfo) -> Result<&Profile> {
        self.profile_for(pod)
            .ok_or_else(|| Error::UnknownProfile(super::scheduler::scheduler_name(pod).to_owned()))
    }

    /// Runs the Reserve plugins; when one fails, unreserves them all and returns the error.
    pub fn reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Result<()> {
        let profile = self.profile_or_err(pod)?;
        for p in &profile.reserve {
            if let Err(source) = p.reserve(state, pod, node) {
                unreserve(profile, state, pod, node);
                return Err(Error::Plugin {
                    plugin: p.name(),
                    source,
                });
            }
        }
        Ok(())
    }

    /// Runs Unreserve of every Reserve plugin, in reverse order.
    pub fn unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) {
        if let Some(profile) = self.profile_for(pod) {
            unreserve(profile, state, pod, node);
        }
    }

    /// Runs the Permit plugins for a pod reserved on `node`. A rejection unreserves the
    /// pod and returns the error; waits register the pod in [`WaitingPods`], with the shortest
    /// timeout any plugin asked for.
    pub fn permit(
        &self,
        state: &mut CycleState,
        pod: &Arc<PodInfo>,
        node: &str,
        snapshot: &Snapshot,
    ) -> Result<PermitOutcome> {
        let profile = self.profile_or_err(pod)?;
        let waiting = self.waiting_pods();
        let ctx = PermitContext { snapshot, waiting };
        let mut wait_for: Vec<&'static str> = Vec::new();
        let mut timeout = Duration::MAX;
        for p in &profile.permit {
            match p.permit(state, pod, node, &ctx) {
                Permit::Allow => {}
                Permit::Reject(message) => {
                    unreserve(profile, state, pod, node);
                    return Err(Error::PermitRejected {
                        plugin: p.name().to_owned(),
                        message,
                    });
                }
                Permit::Wait(t) => {
                    wait_for.push(p.name());
                    timeout = timeout.min(t);
                }
            }
        }
        if wait_for.is_empty() {
            return Ok(PermitOutcome::Allowed);
        }
        let rx = waiting.add(Arc::clone(pod), node, wait_for);
        Ok(PermitOutcome::Wait(rx, timeout))
    }

    /// The rest of the binding cycle, off the scheduling thread: waits on Permit, then
    /// PreBind, Bind (the first plugin that does not skip), PostBind. On any failure the
    /// pod is unreserved (and no longer waiting) and the error returned: the caller
    /// forgets the assumed pod and requeues it.
    pub async fn bind(
        &self,
        mut state: CycleState,
        pod: &PodInfo,
        node: &str,
        permit: PermitOutcome,
    ) -> Result<()> {
        let profile = self.profile_or_err(pod)?;
        let result = bind_steps(profile, &state, pod, node, permit).await;
        if result.is_err() {
            self.waiting_pods().remove(pod.key());
            unreserve(profile, &mut state, pod, node);
        }
        result
    }
}

async fn bind_steps(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    node: &str,
    permit: PermitOutcome,
) -> Result<()> {
    if let PermitOutcome::Wait(rx, timeout) = permit {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err((plugin, message)))) => {
                return Err(Error::PermitRejected { plugin, message });
            }
            Ok(Err(_)) => {
                return Err(Error::PermitRejected {
                    plugin: "framework".into(),
                    message: "waiting pod dropped".into(),
                });
            }
            Err(_) => return Err(Error::PermitTimeout),
        }
    }
    for p in &profile.pre_bind {
        p.pre_bind(state, pod, node)
            .await
            .map_err(|source| Error::Plugin {
                plugin: p.name(),
                source,
            })?;
    }
    let mut bound = false;
    for p in &profile.bind {
        match p.bind(state, pod, node).await {
            Ok(BindResult::Bound) => {
                bound = true;
                break;
            }
            Ok(BindResult::Skip) => {}
            Err(source) => {
                return Err(Error::Plugin {
                    plugin: p.name(),
                    source,
                });
            }
        }
    }
    if !bound {
        return Err(Error::NotBound);
    }
    for p in &profile.post_bind {
        p.post_bind(state, pod, node);
    }
    Ok(())
}

fn unreserve(profile: &Profile, state: &mut CycleState, pod: &PodInfo, node: &str) {
    for p in profile.reserve.iter().rev() {
        p.unreserve(state, pod, node);
    }
}
