//! The pod worker: one task per pod that converges the runtime to the pod's spec (sandbox,
//! init containers in order, containers, restarts with back-off, probes) and reports its
//! status; on deletion it stops the containers with the grace period and removes the pod
//! (contract 5).
//!
//! The worker keeps nothing it could not rebuild: each sync reads the pod's sandboxes and
//! containers from the runtime by the pod's uid label, so a worker of a restarted agent
//! adopts what the previous one started and never starts it twice.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kube_api::client::{Api, Client, DeleteParams, Patch, PatchParams, Preconditions};
use kube_core::runtime::{
    ContainerFilter, ContainerState as RtState, ContainerStatus as RtStatus, ImageSpec,
    PodSandboxConfig, PodSandboxFilter, PodSandboxMetadata, SandboxState,
};
use kube_core::{
    Container, ContainerRestartPolicy, Pod, PodPhase, PodStatus, PullPolicy, RestartPolicy,
    Runtime, RuntimeError, Time,
};
use tokio::sync::{Notify, watch};
use tracing::Instrument as _;

use super::backoff::{BackoffPolicy, CrashBackoff, RestartDecision};
use super::config::KubeletConfig;
use super::container_config::container_config;
use super::labels;
use super::pod_status::{StatusInputs, Waiting, compute};
use super::probe::{PodProbes, Target};

mod start;
mod status;
mod stop;

pub(crate) use status::patch_pod_status;

/// What the pod workers share.
pub(crate) struct PodContext {
    pub runtime: Arc<dyn Runtime>,
    pub client: Client,
    pub config: Arc<KubeletConfig>,
    pub runtime_name: String,
    pub host_ip: String,
    pub events: super::events::EventRecorder,
}

impl PodContext {
    fn backoff_policy(&self) -> BackoffPolicy {
        BackoffPolicy {
            initial: self.config.backoff_initial,
            max: self.config.backoff_max,
            reset_after: self.config.backoff_reset_after,
        }
    }
}

/// What the dispatcher tells a worker.
#[derive(Clone, Debug)]
pub(crate) enum PodUpdate {
    /// The pod as the API server has it now.
    Present(Arc<Pod>),
    /// The pod is gone from the API server (its last known state).
    Gone(Arc<Pod>),
}

/// A Go-style duration (`10s`, `1m20s`, `5m0s`), as Kubernetes' messages print them.
pub(crate) fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{}h{}m{}s", secs / 3600, (secs % 3600) / 60, secs % 60)
    }
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy == Some(ContainerRestartPolicy::Always)
}

fn should_restart(policy: &RestartPolicy, exit_code: Option<i32>) -> bool {
    match policy {
        RestartPolicy::Never => false,
        RestartPolicy::OnFailure => exit_code != Some(0),
        _ => true,
    }
}

/// The grace period a deletion gives the pod.
pub(crate) fn grace_period(pod: &Pod, default: Duration) -> Duration {
    pod.metadata
        .deletion_grace_period_seconds
        .or(pod.spec.termination_grace_period_seconds)
        .map_or(default, |s| {
            Duration::from_secs(u64::try_from(s).unwrap_or(0))
        })
}

/// The runtime's view of one pod.
struct Observed {
    sandbox: Option<(String, Vec<IpAddr>)>,
    stale_sandboxes: Vec<String>,
    sandbox_count: u32,
    containers: HashMap<String, Vec<RtStatus>>,
}

/// One pod's worker.
pub(crate) struct PodWorker {
    ctx: Arc<PodContext>,
    updates: watch::Receiver<PodUpdate>,
    notify: Arc<Notify>,
    probes: PodProbes,
    backoff: CrashBackoff,
    waiting: HashMap<String, Waiting>,
    image_backoff: CrashBackoff,
    written: Option<PodStatus>,
    /// The resourceVersion our last status write produced: an informer copy older than
    /// it has not seen that write yet.
    written_rv: Option<u64>,
    failed: Option<Waiting>,
    sandbox_ips: HashMap<String, Vec<IpAddr>>,
}

impl PodWorker {
    pub(crate) fn new(
        ctx: Arc<PodContext>,
        updates: watch::Receiver<PodUpdate>,
        failed: Option<Waiting>,
    ) -> Self {
        let notify = Arc::new(Notify::new());
        Self {
            probes: PodProbes::new(notify.clone()),
            ctx,
            updates,
            notify,
            backoff: CrashBackoff::default(),
            waiting: HashMap::new(),
            image_backoff: CrashBackoff::default(),
            written: None,
            written_rv: None,
            failed,
            sandbox_ips: HashMap::new(),
        }
    }

    /// Runs until the pod is deleted (its containers stopped and the pod removed), or the
    /// agent shuts down (containers left running for the next agent to adopt).
    pub(crate) async fn run(mut self) {
        loop {
            let update = self.updates.borrow_and_update().clone();
            let pod = match update {
                PodUpdate::Gone(pod) => {
                    let grace = grace_period(&pod, Duration::ZERO);
                    Box::pin(self.terminate(&pod, grace, false)).await;
                    return;
                }
                PodUpdate::Present(pod) => pod,
            };
            // namespace/name, for the logs only.
            let key = || {
                format!(
                    "{}/{}",
                    pod.metadata.namespace.as_deref().unwrap_or(""),
                    pod.metadata.name.as_deref().unwrap_or("")
                )
            };
            if pod.metadata.deletion_timestamp.is_some() {
                let grace = grace_period(&pod, self.ctx.config.default_termination_grace);
                Box::pin(self.terminate(&pod, grace, true))
                    .instrument(tracing::info_span!("terminate", pod = %key()))
                    .await;
                return;
            }
            // The sync and terminate futures are boxed: held inline they would make every
            // worker's task as large as their deepest state (several KiB), for all of the
            // time the worker waits between syncs, in a node agent with hundreds of pods.
            let wake = match Box::pin(self.sync(&pod)).await {
                Ok(wake) => wake,
                Err(e) => {
                    tracing::warn!(pod = %key(), error = %e, "syncing the pod");
                    None
                }
            };
            let mut sleep = self.ctx.config.sync_period;
            if let Some(at) = wake {
                let until = at.duration_since(SystemTime::now()).unwrap_or_default();
                sleep = sleep.min(until.max(Duration::from_millis(10)));
            }
            tokio::select! {
                changed = self.updates.changed() => {
                    if changed.is_err() {
                        // The agent is shutting down: leave the containers running.
                        return;
                    }
                }
                () = self.notify.notified() => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    async fn observe(&mut self, uid: &str) -> Result<Observed, RuntimeError> {
        let rt = &self.ctx.runtime;
        let mut sandboxes = rt
            .list_pod_sandboxes(&PodSandboxFilter {
                label_selector: labels::by_pod_uid(uid),
                ..Default::default()
            })
            .await?;
        sandboxes.sort_by_key(|s| (s.metadata.attempt, s.created_at));
        let sandbox_count = u32::try_from(sandboxes.len()).unwrap_or(u32::MAX);
        let current = sandboxes
            .iter()
            .rev()
            .find(|s| s.state == SandboxState::Ready)
            .map(|s| s.id.clone());
        let stale_sandboxes: Vec<String> = sandboxes
            .iter()
            .filter(|s| Some(&s.id) != current.as_ref() && s.state == SandboxState::Ready)
            .map(|s| s.id.clone())
            .collect();
        let sandbox = match current {
            Some(id) => {
                let ips = match self.sandbox_ips.get(&id) {
                    Some(ips) => ips.clone(),
                    None => {
                        let ips = rt.pod_sandbox_status(&id).await?.ips;
                        self.sandbox_ips.insert(id.clone(), ips.clone());
                        ips
                    }
                };
                Some((id, ips))
            }
            None => None,
        };
        let listed = rt
            .list_containers(&ContainerFilter {
                label_selector: labels::by_pod_uid(uid),
                ..Default::default()
            })
            .await?;
        let mut containers: HashMap<String, Vec<RtStatus>> = HashMap::new();
        for c in listed {
            match rt.container_status(&c.id).await {
                Ok(status) => containers
                    .entry(c.metadata.name.clone())
                    .or_default()
                    .push(status),
                Err(RuntimeError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        for history in containers.values_mut() {
            history.sort_by_key(|c| (c.container.metadata.attempt, c.container.created_at));
        }
        Ok(Observed {
            sandbox,
            stale_sandboxes,
            sandbox_count,
            containers,
        })
    }

    fn sandbox_config(&self, pod: &Pod, attempt: u32) -> PodSandboxConfig {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        PodSandboxConfig {
            metadata: PodSandboxMetadata {
                name: name.clone(),
                namespace: ns.clone(),
                uid: uid.clone(),
                attempt,
            },
            // As the kubelet does: host-network pods keep the node's hostname.
            hostname: if pod.spec.host_network {
                String::new()
            } else {
                pod.spec.hostname.clone().unwrap_or_else(|| name.clone())
            },
            log_directory: self
                .ctx
                .config
                .pod_log_dir
                .join(format!("{ns}_{name}_{uid}"))
                .to_string_lossy()
                .into_owned(),
            host_network: pod.spec.host_network,
            port_mappings: Vec::new(),
            cgroup_parent: None,
            labels: labels::sandbox_labels(pod),
            annotations: pod.metadata.annotations.clone(),
        }
    }

    /// One pass: make the runtime match the pod, write the status. Returns when the
    /// worker must look again at the latest (a back-off ending).
    async fn sync(&mut self, pod: &Pod) -> Result<Option<SystemTime>, RuntimeError> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let mut observed = self.observe(&uid).await?;
        let mut wake: Option<SystemTime> = None;
        // activeDeadlineSeconds: a pod active longer than it may fails, and stops.
        let started = self
            .written
            .as_ref()
            .and_then(|s| s.start_time)
            .or(pod.status.start_time);
        if let (Some(deadline), Some(started), None) =
            (pod.spec.active_deadline_seconds, started, &self.failed)
        {
            let until = SystemTime::from(started.0)
                + Duration::from_secs(u64::try_from(deadline).unwrap_or(0));
            if SystemTime::now() >= until {
                self.failed = Some(Waiting {
                    reason: "DeadlineExceeded".into(),
                    message: "Pod was active on the node longer than the specified deadline".into(),
                });
            } else {
                wake = Some(until);
            }
        }
        let terminal = self.failed.is_some()
            || self
                .written
                .as_ref()
                .or(Some(&pod.status))
                .is_some_and(|s| matches!(s.phase, Some(PodPhase::Succeeded | PodPhase::Failed)));
        if terminal {
            let grace = if self.failed.is_some() {
                grace_period(pod, self.ctx.config.default_termination_grace)
            } else {
                Duration::ZERO
            };
            self.stop_everything(pod, &observed, grace).await;
            let observed = self.observe(&uid).await?;
            self.write_status(pod, &observed).await;
            return Ok(None);
        }
        for stale in &observed.stale_sandboxes {
            self.ctx.runtime.stop_pod_sandbox(stale).await?;
        }
        if observed.sandbox.is_none() {
            let config = self.sandbox_config(pod, observed.sandbox_count);
            // A new sandbox restarts every container: stop what runs elsewhere.
            for history in observed.containers.values() {
                for c in history
                    .iter()
                    .filter(|c| c.container.state == RtState::Running)
                {
                    self.ctx
                        .runtime
                        .stop_container(&c.container.id, Duration::ZERO)
                        .await?;
                }
            }
            match self.ctx.runtime.run_pod_sandbox(&config).await {
                Ok(id) => {
                    tracing::debug!(pod = %config.metadata.name, sandbox = %id, "sandbox started");
                }
                Err(e) => {
                    for c in pod.spec.all_containers() {
                        self.show_waiting(
                            &c.name,
                            "ContainerCreating",
                            format!("Failed to create pod sandbox: {e}"),
                        );
                    }
                    self.write_status(pod, &observed).await;
                    return Err(e);
                }
            }
            observed = self.observe(&uid).await?;
        }
        let Some((sandbox_id, ips)) = observed.sandbox.clone() else {
            return Ok(None);
        };
        let sandbox_config = self.sandbox_config(pod, observed.sandbox_count.saturating_sub(1));
        let pod_ip = if pod.spec.host_network {
            self.ctx.host_ip.clone()
        } else {
            ips.first()
                .map_or_else(|| self.ctx.host_ip.clone(), ToString::to_string)
        };

        // Containers whose liveness or startup probe failed are killed (and restarted).
        let mut killed = false;
        for spec in pod.spec.all_containers() {
            let Some(latest) = observed.containers.get(&spec.name).and_then(|h| h.last()) else {
                continue;
            };
            if latest.container.state != RtState::Running {
                continue;
            }
            if let Some(why) = self.probes.failure(&latest.container.id) {
                tracing::info!(pod = %sandbox_config.metadata.name, container = %spec.name, %why, "killing the container");
                self.ctx
                    .events
                    .pod(pod, Some(&spec.name), true, "Unhealthy", why.clone());
                self.ctx.events.pod(
                    pod,
                    Some(&spec.name),
                    false,
                    "Killing",
                    format!(
                        "Container {} failed liveness probe, will be restarted",
                        spec.name
                    ),
                );
                let grace = spec
                    .liveness_probe
                    .as_ref()
                    .and_then(|p| p.termination_grace_period_seconds)
                    .map_or_else(
                        || grace_period(pod, self.ctx.config.default_termination_grace),
                        |s| Duration::from_secs(u64::try_from(s).unwrap_or(0)),
                    );
                self.ctx
                    .runtime
                    .stop_container(&latest.container.id, grace)
                    .await?;
                killed = true;
            }
        }
        if killed {
            observed = self.observe(&uid).await?;
        }

        // Init containers, in order.
        let policy = pod.spec.effective_restart_policy();
        let mut initialized = true;
        for spec in &pod.spec.init_containers {
            let history = observed
                .containers
                .get(&spec.name)
                .cloned()
                .unwrap_or_default();
            let sidecar = is_sidecar(spec);
            match history.last() {
                None => {
                    self.start(pod, spec, 0, &sandbox_id, &sandbox_config, &pod_ip)
                        .await;
                    initialized = false;
                    break;
                }
                Some(c) if c.container.state == RtState::Created => {
                    self.start_created(spec, c).await;
                    initialized = false;
                    break;
                }
                Some(c) if c.container.state == RtState::Running => {
                    if !sidecar {
                        initialized = false;
                        break;
                    }
                }
                Some(c) => {
                    if !sidecar && c.exit_code == Some(0) {
                        continue;
                    }
                    initialized = false;
                    if sidecar || policy != RestartPolicy::Never {
                        wake = earliest(
                            wake,
                            self.restart(pod, spec, c, &sandbox_id, &sandbox_config, &pod_ip)
                                .await,
                        );
                    }
                    break;
                }
            }
        }
        if initialized {
            for spec in &pod.spec.containers {
                let history = observed
                    .containers
                    .get(&spec.name)
                    .cloned()
                    .unwrap_or_default();
                match history.last() {
                    None => {
                        self.start(pod, spec, 0, &sandbox_id, &sandbox_config, &pod_ip)
                            .await;
                    }
                    Some(c) if c.container.state == RtState::Created => {
                        self.start_created(spec, c).await;
                    }
                    Some(c) if c.container.state == RtState::Running => {}
                    Some(c) => {
                        if should_restart(&policy, c.exit_code) {
                            wake = earliest(
                                wake,
                                self.restart(pod, spec, c, &sandbox_id, &sandbox_config, &pod_ip)
                                    .await,
                            );
                        } else {
                            self.waiting.remove(&spec.name);
                        }
                    }
                }
            }
        }
        let observed = self.observe(&uid).await?;
        self.update_probes(pod, &observed, &pod_ip);
        let status = self.write_status(pod, &observed).await;
        if matches!(status.phase, Some(PodPhase::Succeeded | PodPhase::Failed)) {
            self.stop_everything(pod, &observed, Duration::ZERO).await;
            return Ok(None);
        }
        Ok(wake)
    }

    fn update_probes(&mut self, pod: &Pod, observed: &Observed, pod_ip: &str) {
        let mut running = Vec::new();
        for spec in pod.spec.all_containers() {
            let Some(latest) = observed.containers.get(&spec.name).and_then(|h| h.last()) else {
                continue;
            };
            if latest.container.state != RtState::Running {
                continue;
            }
            running.push(latest.container.id.clone());
            self.probes.ensure(
                &Target {
                    runtime: self.ctx.runtime.clone(),
                    container_id: latest.container.id.clone(),
                    host: pod_ip.to_owned(),
                    container: Arc::new(spec.clone()),
                },
                latest.started_at,
            );
        }
        let ids: Vec<&str> = running.iter().map(String::as_str).collect();
        self.probes.retain(&ids);
    }

    /// Shows `container` as waiting, for `reason`, in the next status written.
    fn show_waiting(&mut self, container: &str, reason: &str, message: impl Into<String>) {
        self.waiting.insert(
            container.to_owned(),
            Waiting {
                reason: reason.to_owned(),
                message: message.into(),
            },
        );
    }
}

fn earliest(a: Option<SystemTime>, b: Option<SystemTime>) -> Option<SystemTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_worker_is_small() {
        let store: Arc<dyn kube_core::Store> = Arc::new(kube_store::MemoryStore::new());
        let api = kube_api::server::ApiServer::builder(store)
            .build()
            .await
            .unwrap();
        let client = Client::new(api, "default");
        let ctx = Arc::new(PodContext {
            runtime: Arc::new(crate::sim::SimRuntime::new()),
            events: super::super::events::EventRecorder::new(client.clone(), "n1", false),
            client,
            config: Arc::new(KubeletConfig::default()),
            runtime_name: "sim".into(),
            host_ip: "10.0.0.1".into(),
        });
        let (_tx, rx) = watch::channel(PodUpdate::Present(Arc::new(Pod::default())));
        let run = PodWorker::new(ctx, rx, None).run();
        // One task per pod: with the sync inline the future was about 8 KiB.
        let size = std::mem::size_of_val(&run);
        assert!(size < 2048, "a pod worker's task holds {size} bytes");
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_secs(3700)), "1h1m40s");
    }

    #[test]
    fn restart_policies() {
        assert!(should_restart(&RestartPolicy::Always, Some(0)));
        assert!(!should_restart(&RestartPolicy::OnFailure, Some(0)));
        assert!(should_restart(&RestartPolicy::OnFailure, Some(1)));
        assert!(!should_restart(&RestartPolicy::Never, Some(1)));
        let mut pod = Pod::default();
        assert_eq!(
            grace_period(&pod, Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        pod.spec.termination_grace_period_seconds = Some(5);
        assert_eq!(
            grace_period(&pod, Duration::from_secs(30)),
            Duration::from_secs(5)
        );
        pod.metadata.deletion_grace_period_seconds = Some(2);
        assert_eq!(
            grace_period(&pod, Duration::from_secs(30)),
            Duration::from_secs(2)
        );
    }
}
