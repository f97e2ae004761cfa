//! Starting one container: an attempt (the image pulled as the pull policy says, then
//! created and started), one left created by an earlier agent, and a restart after an
//! exit, within the crash backoff. Which containers start when is `sync`'s business.

use super::*;

impl PodWorker {
    /// Restarts an exited container now, or says when its back-off ends.
    pub(super) async fn restart(
        &mut self,
        pod: &Pod,
        spec: &Container,
        last: &RtStatus,
        sandbox_id: &str,
        sandbox_config: &PodSandboxConfig,
        pod_ip: &str,
    ) -> Option<SystemTime> {
        let policy = self.ctx.backoff_policy();
        let finished = last.finished_at.unwrap_or_else(SystemTime::now);
        match self.backoff.decide(
            &policy,
            &spec.name,
            last.started_at,
            finished,
            SystemTime::now(),
        ) {
            RestartDecision::Now => {
                self.backoff
                    .restarted(&policy, &spec.name, last.started_at, finished);
                let attempt = last.container.metadata.attempt + 1;
                self.start(pod, spec, attempt, sandbox_id, sandbox_config, pod_ip)
                    .await;
                None
            }
            RestartDecision::At(until, delay) => {
                if self
                    .waiting
                    .get(&spec.name)
                    .is_none_or(|w| w.reason != "CrashLoopBackOff")
                {
                    self.ctx.events.pod(
                        pod,
                        Some(&spec.name),
                        true,
                        "BackOff",
                        format!(
                            "Back-off restarting failed container {} in pod {}",
                            spec.name,
                            pod.metadata.name.as_deref().unwrap_or("")
                        ),
                    );
                }
                self.show_waiting(
                    &spec.name,
                    "CrashLoopBackOff",
                    format!(
                        "back-off {} restarting failed container={} pod={}_{}({})",
                        go_duration(delay),
                        spec.name,
                        pod.metadata.name.as_deref().unwrap_or(""),
                        pod.metadata.namespace.as_deref().unwrap_or(""),
                        pod.metadata.uid.as_deref().unwrap_or("")
                    ),
                );
                Some(until)
            }
        }
    }

    /// Starts a container left created (by an agent stopped between create and start).
    pub(super) async fn start_created(&mut self, spec: &Container, c: &RtStatus) {
        if let Err(e) = self.ctx.runtime.start_container(&c.container.id).await {
            tracing::warn!(container = %spec.name, error = %e, "starting a created container");
            let _ = self.ctx.runtime.remove_container(&c.container.id).await;
            self.show_waiting(&spec.name, "RunContainerError", e.to_string());
        } else {
            self.waiting.remove(&spec.name);
        }
    }

    /// Pulls the image (as the pull policy says), creates and starts one attempt of a
    /// container; failures become the container's waiting reason.
    pub(super) async fn start(
        &mut self,
        pod: &Pod,
        spec: &Container,
        attempt: u32,
        sandbox_id: &str,
        sandbox_config: &PodSandboxConfig,
        pod_ip: &str,
    ) {
        let rt = self.ctx.runtime.clone();
        let image = ImageSpec {
            image: spec.image.clone().unwrap_or_default(),
        };
        // Image pulls back off like crashes, keyed by container.
        let policy = self.ctx.backoff_policy();
        if let Some(w) = self.waiting.get(&spec.name) {
            if w.reason == "ErrImagePull" || w.reason == "ImagePullBackOff" {
                let now = SystemTime::now();
                if let RestartDecision::At(..) = self
                    .image_backoff
                    .decide(&policy, &spec.name, None, now, now)
                {
                    self.show_waiting(
                        &spec.name,
                        "ImagePullBackOff",
                        format!("Back-off pulling image {:?}", image.image),
                    );
                    return;
                }
            }
        }
        let present = match rt.image_status(&image).await {
            Ok(found) => found.map(|i| i.id),
            Err(_) => None,
        };
        let image_ref = match (spec.effective_image_pull_policy(), present) {
            (PullPolicy::Never, None) => {
                self.show_waiting(
                    &spec.name,
                    "ErrImageNeverPull",
                    format!(
                        "Container image {:?} is not present with pull policy of Never",
                        image.image
                    ),
                );
                return;
            }
            (PullPolicy::Never | PullPolicy::IfNotPresent, Some(id)) => id,
            _ => match rt.pull_image(&image).await {
                Ok(r) => r,
                Err(e) => {
                    self.ctx.events.pod(
                        pod,
                        Some(&spec.name),
                        true,
                        "Failed",
                        format!("Failed to pull image {:?}: {e}", image.image),
                    );
                    self.image_pull_failed(&policy, &spec.name, e.to_string());
                    return;
                }
            },
        };
        let config = container_config(pod, spec, attempt, &image_ref, pod_ip, &self.ctx.host_ip);
        let id = match rt
            .create_container(sandbox_id, &config, sandbox_config)
            .await
        {
            Ok(id) => id,
            Err(e @ RuntimeError::ImageUnavailable { .. }) => {
                // The runtime cannot resolve the image (a process runtime's unknown image
                // with no command): shown, and retried, like a failed pull.
                self.image_pull_failed(&policy, &spec.name, e.to_string());
                return;
            }
            Err(e) => {
                self.show_waiting(&spec.name, "CreateContainerError", e.to_string());
                return;
            }
        };
        self.ctx.events.pod(
            pod,
            Some(&spec.name),
            false,
            "Created",
            format!("Created container {}", spec.name),
        );
        if let Err(e) = rt.start_container(&id).await {
            tracing::warn!(container = %spec.name, error = %e, "starting the container");
            self.ctx
                .events
                .pod(pod, Some(&spec.name), true, "Failed", format!("Error: {e}"));
            self.show_waiting(&spec.name, "RunContainerError", e.to_string());
            return;
        }
        tracing::debug!(container = %spec.name, attempt, id = %id, "container started");
        self.ctx.events.pod(
            pod,
            Some(&spec.name),
            false,
            "Started",
            format!("Started container {}", spec.name),
        );
        self.waiting.remove(&spec.name);
    }

    /// Shows `message` as the container's `ErrImagePull` and starts (or lengthens) its
    /// image back-off.
    fn image_pull_failed(&mut self, policy: &BackoffPolicy, name: &str, message: String) {
        self.image_backoff
            .restarted(policy, name, None, SystemTime::now());
        self.show_waiting(name, "ErrImagePull", message);
    }
}
