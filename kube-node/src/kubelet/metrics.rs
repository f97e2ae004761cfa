//! The node agent's `/metrics` (Prometheus text, on its HTTPS port beside the logs), named
//! as the kubelet's: `kubelet_running_pods` (sandboxes ready), `kubelet_running_containers`
//! by `container_state`, and `kubelet_pods` bound to this node by `phase`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kube_core::runtime::{ContainerFilter, ContainerState, PodSandboxFilter, SandboxState};
use kube_core::{Pod, PodPhase, Runtime, RuntimeError};

/// Renders the metrics from what the runtime and the pod cache hold now.
pub(crate) async fn render(
    runtime: &dyn Runtime,
    pods: &[std::sync::Arc<Pod>],
) -> Result<String, RuntimeError> {
    let sandboxes = runtime
        .list_pod_sandboxes(&PodSandboxFilter {
            state: Some(SandboxState::Ready),
            ..PodSandboxFilter::default()
        })
        .await?;
    let containers = runtime.list_containers(&ContainerFilter::default()).await?;
    let mut by_state: BTreeMap<&str, usize> = [
        ("created", 0),
        ("running", 0),
        ("exited", 0),
        ("unknown", 0),
    ]
    .into_iter()
    .collect();
    for c in &containers {
        let state = match c.state {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Exited => "exited",
            ContainerState::Unknown => "unknown",
        };
        *by_state.entry(state).or_default() += 1;
    }
    let mut by_phase: BTreeMap<String, usize> = BTreeMap::new();
    for pod in pods {
        let phase = match &pod.status.phase {
            None | Some(PodPhase::Pending) => "Pending",
            Some(PodPhase::Running) => "Running",
            Some(PodPhase::Succeeded) => "Succeeded",
            Some(PodPhase::Failed) => "Failed",
            Some(PodPhase::Unknown | PodPhase::Other(_)) => "Unknown",
        };
        *by_phase.entry(phase.to_owned()).or_default() += 1;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP kubelet_running_pods Number of pods that have a running pod sandbox.\n\
         # TYPE kubelet_running_pods gauge\nkubelet_running_pods {}",
        sandboxes.len()
    );
    let _ = writeln!(
        out,
        "# HELP kubelet_running_containers Number of containers currently running, by state.\n\
         # TYPE kubelet_running_containers gauge"
    );
    for (state, n) in by_state {
        let _ = writeln!(
            out,
            "kubelet_running_containers{{container_state=\"{state}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP kubelet_pods Pods bound to this node, by phase.\n# TYPE kubelet_pods gauge"
    );
    for (phase, n) in by_phase {
        let _ = writeln!(out, "kubelet_pods{{phase=\"{phase}\"}} {n}");
    }
    Ok(out)
}
