//! Stopping a pod: each container after its preStop hook, within the grace period, then
//! its sandbox; for a pod deleted gracefully, the final delete with grace 0.

use super::*;

impl PodWorker {
    /// Stops every running container of the pod (with `grace`) and its sandboxes.
    pub(super) async fn stop_everything(
        &mut self,
        pod: &Pod,
        observed: &Observed,
        grace: Duration,
    ) {
        let rt = self.ctx.runtime.clone();
        let mut stops = Vec::new();
        for (name, history) in &observed.containers {
            for c in history {
                if matches!(c.container.state, RtState::Running | RtState::Created) {
                    let rt = rt.clone();
                    let id = c.container.id.clone();
                    let pre_stop = pod
                        .spec
                        .all_containers()
                        .find(|s| &s.name == name)
                        .and_then(|s| s.lifecycle.as_ref())
                        .and_then(|l| l.pre_stop.as_ref())
                        .and_then(|h| h.exec.as_ref())
                        .map(|e| e.command.clone());
                    stops.push(async move {
                        let started = tokio::time::Instant::now();
                        if let Some(cmd) = pre_stop.filter(|_| !grace.is_zero()) {
                            if let Err(e) = rt.exec_sync(&id, &cmd, grace).await {
                                tracing::debug!(container = %id, error = %e, "preStop hook failed");
                            }
                        }
                        let left = grace.saturating_sub(started.elapsed());
                        if let Err(e) = rt.stop_container(&id, left).await {
                            tracing::warn!(container = %id, error = %e, "stopping the container");
                        }
                    });
                }
            }
        }
        futures::future::join_all(stops).await;
        self.probes.retain(&[]);
        if let Some((id, _)) = &observed.sandbox {
            if let Err(e) = rt.stop_pod_sandbox(id).await {
                tracing::warn!(sandbox = %id, error = %e, "stopping the sandbox");
            }
        }
    }

    /// Stops the pod's containers with `grace`, reports their end, removes them and, when
    /// the pod was deleted gracefully, deletes it with grace 0.
    pub(super) async fn terminate(&mut self, pod: &Pod, grace: Duration, delete: bool) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        tracing::info!(pod = %format!("{ns}/{name}"), grace = ?grace, "stopping the pod");
        if delete {
            for c in pod.spec.all_containers() {
                self.ctx.events.pod(
                    pod,
                    Some(&c.name),
                    false,
                    "Killing",
                    format!("Stopping container {}", c.name),
                );
            }
        }
        if let Ok(observed) = self.observe(&uid).await {
            self.stop_everything(pod, &observed, grace).await;
        }
        if let Ok(observed) = self.observe(&uid).await {
            if delete {
                self.write_status(pod, &observed).await;
            }
            for history in observed.containers.values() {
                for c in history {
                    let _ = self.ctx.runtime.remove_container(&c.container.id).await;
                }
            }
        }
        if let Ok(sandboxes) = self
            .ctx
            .runtime
            .list_pod_sandboxes(&PodSandboxFilter {
                label_selector: labels::by_pod_uid(&uid),
                ..Default::default()
            })
            .await
        {
            for s in sandboxes {
                let _ = self.ctx.runtime.stop_pod_sandbox(&s.id).await;
                let _ = self.ctx.runtime.remove_pod_sandbox(&s.id).await;
            }
        }
        if delete {
            let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(&name, &params).await {
                Ok(_) => tracing::info!(pod = %format!("{ns}/{name}"), "pod deleted"),
                Err(e) if e.code() == 404 || e.code() == 409 => {}
                Err(e) => {
                    tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "deleting the pod");
                }
            }
        }
    }
}
