//! The dispatcher: watches the pods bound to this node (field selector
//! `spec.nodeName=<node>`), admits new ones, runs one [`PodWorker`] per pod, and after a
//! restart removes what the runtime runs for pods that no longer exist.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt as _;
use kube_api::informer::{Cache, InformerEvent};
use kube_core::runtime::PodSandboxFilter;
use kube_core::{Pod, PodPhase, PodRequests, ResourceList, Time};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::admission;
use super::labels;
use super::pod_status::{StatusInputs, Waiting, compute};
use super::pod_worker::{PodContext, PodUpdate, PodWorker, patch_pod_status};

struct WorkerHandle {
    tx: watch::Sender<PodUpdate>,
    task: JoinHandle<()>,
    /// The pod's resource requests, summed once at admission (a pod's requests do not
    /// change): admitting the next pod adds them up without parsing every quantity of
    /// every pod of the node again.
    requests: PodRequests,
}

/// Runs the pod workers of one node.
pub(crate) struct Dispatcher {
    pub ctx: Arc<PodContext>,
    pub node_labels: BTreeMap<String, String>,
    pub allocatable: Arc<Mutex<ResourceList>>,
    workers: HashMap<String, WorkerHandle>,
    rejected: HashSet<String>,
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.phase,
        Some(PodPhase::Succeeded | PodPhase::Failed)
    )
}

impl Dispatcher {
    pub(crate) fn new(
        ctx: Arc<PodContext>,
        node_labels: BTreeMap<String, String>,
        allocatable: Arc<Mutex<ResourceList>>,
    ) -> Self {
        Self {
            ctx,
            node_labels,
            allocatable,
            workers: HashMap::new(),
            rejected: HashSet::new(),
        }
    }

    /// Runs until shutdown; the workers then stop without touching their containers.
    /// Work in flight at shutdown (a runtime call, a rejected pod's status write) is
    /// dropped, not waited for.
    pub(crate) async fn run(mut self, cache: Cache<Pod>, mut shutdown: watch::Receiver<bool>) {
        tokio::select! {
            () = self.dispatch(&cache) => {}
            _ = shutdown.wait_for(|s| *s) => {}
        }
        // Dropping the senders ends the workers where they are, containers untouched.
        for (_, w) in self.workers.drain() {
            drop(w.tx);
            w.task.abort();
        }
    }

    /// Hands the cache's pods to their workers, for as long as the cache sends events.
    async fn dispatch(&mut self, cache: &Cache<Pod>) {
        cache.wait_until_synced().await;
        // Pods that already run here first (adopted, never rejected), then the others
        // in creation order, as the kubelet admits them.
        let running = self.runtime_pod_uids().await;
        let mut pods = cache.list();
        pods.sort_by_key(|p| {
            (
                !running.contains(&uid(p)),
                p.metadata.creation_timestamp,
                p.metadata.name.clone(),
            )
        });
        let known: HashSet<String> = pods.iter().map(|p| uid(p)).collect();
        for pod in pods {
            let adopted = running.contains(&uid(&pod));
            self.on_pod(pod, adopted).await;
        }
        self.remove_orphans(&known).await;
        let mut events = cache.subscribe();
        while let Some(event) = events.next().await {
            self.workers.retain(|_, w| !w.task.is_finished());
            match event {
                InformerEvent::Added(pod) | InformerEvent::Updated { new: pod, .. } => {
                    self.on_pod(pod, false).await;
                }
                InformerEvent::Deleted(pod) => {
                    let id = uid(&pod);
                    if let Some(w) = self.workers.get(&id) {
                        let _ = w.tx.send(PodUpdate::Gone(pod));
                    }
                    self.rejected.remove(&id);
                }
            }
        }
    }

    async fn on_pod(&mut self, pod: Arc<Pod>, adopted: bool) {
        let id = uid(&pod);
        if let Some(w) = self.workers.get(&id) {
            let _ = w.tx.send(PodUpdate::Present(pod));
            return;
        }
        if self.rejected.contains(&id) {
            return;
        }
        if is_terminal(&pod) && pod.metadata.deletion_timestamp.is_none() && !adopted {
            // Finished before this agent saw it: nothing to run (a worker would only
            // stop what may still be there).
            if !self.has_runtime_state(&id).await {
                return;
            }
        }
        let mut failed = None;
        if !adopted
            && pod
                .status
                .phase
                .as_ref()
                .is_none_or(|p| *p == PodPhase::Pending)
            && pod
                .status
                .container_statuses
                .iter()
                .all(|s| s.state.running.is_none() && s.state.terminated.is_none())
            && pod.metadata.deletion_timestamp.is_none()
        {
            let (used, count) = self.used();
            let allocatable = self.allocatable.lock().clone();
            if let Err(why) = admission::admit(&pod, &self.node_labels, &allocatable, &used, count)
            {
                tracing::info!(pod = %pod.metadata.name.as_deref().unwrap_or(""), reason = %why.reason, "pod rejected");
                failed = Some(why);
            }
        }
        if let Some(why) = failed {
            self.reject(&pod, &why).await;
            self.rejected.insert(id);
            return;
        }
        let requests = pod.resource_requests();
        let (tx, rx) = watch::channel(PodUpdate::Present(pod));
        let worker = PodWorker::new(self.ctx.clone(), rx, None);
        let task = tokio::spawn(worker.run());
        self.workers.insert(id, WorkerHandle { tx, task, requests });
    }

    /// The requests and the count of the pods admitted and still active.
    fn used(&self) -> (PodRequests, i64) {
        let mut total = PodRequests::default();
        let mut count = 0;
        for w in self.workers.values() {
            if w.task.is_finished() {
                continue;
            }
            let PodUpdate::Present(pod) = &*w.tx.borrow() else {
                continue;
            };
            if is_terminal(pod) {
                continue;
            }
            admission::add(&mut total, &w.requests);
            count += 1;
        }
        (total, count)
    }

    async fn reject(&self, pod: &Pod, why: &Waiting) {
        let status = compute(&StatusInputs {
            pod,
            host_ip: &self.ctx.host_ip,
            sandbox_ips: &[],
            sandbox_ready: false,
            containers: &HashMap::new(),
            waiting: &HashMap::new(),
            probes: &HashMap::new(),
            runtime_name: &self.ctx.runtime_name,
            failed: Some(why),
            now: Time::now(),
        });
        if let Err(e) = patch_pod_status(&self.ctx.client, pod, &status).await {
            tracing::warn!(error = %e, "writing the status of a rejected pod");
        }
        self.ctx
            .events
            .pod(pod, None, true, &why.reason, why.message.clone());
    }

    async fn has_runtime_state(&self, uid: &str) -> bool {
        self.ctx
            .runtime
            .list_pod_sandboxes(&PodSandboxFilter {
                label_selector: labels::by_pod_uid(uid),
                ..Default::default()
            })
            .await
            .is_ok_and(|s| !s.is_empty())
    }

    /// The uids of the pods the runtime holds sandboxes for.
    async fn runtime_pod_uids(&self) -> HashSet<String> {
        match self
            .ctx
            .runtime
            .list_pod_sandboxes(&PodSandboxFilter::default())
            .await
        {
            Ok(sandboxes) => sandboxes
                .into_iter()
                .filter_map(|s| s.labels.get(labels::POD_UID).cloned())
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "listing the runtime's sandboxes");
                HashSet::new()
            }
        }
    }

    /// Stops and removes sandboxes (and their containers) of pods that no longer exist.
    async fn remove_orphans(&self, known: &HashSet<String>) {
        let rt = &self.ctx.runtime;
        let Ok(sandboxes) = rt.list_pod_sandboxes(&PodSandboxFilter::default()).await else {
            return;
        };
        for s in sandboxes {
            let Some(owner) = s.labels.get(labels::POD_UID) else {
                continue;
            };
            if known.contains(owner) {
                continue;
            }
            tracing::info!(sandbox = %s.id, pod = %s.metadata.name, "removing the sandbox of a pod that is gone");
            let _ = rt.stop_pod_sandbox(&s.id).await;
            let _ = rt.remove_pod_sandbox(&s.id).await;
        }
    }
}
