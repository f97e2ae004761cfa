//! Writing a pod's status through `pods/status`: only when it changed, and not again
//! while the informer's copy lags behind this worker's last write.

use kube_core::{ObjectMeta, PartialObjectMeta};

use super::*;

impl PodWorker {
    /// Computes the status and writes it through `pods/status` when it changed.
    pub(super) async fn write_status(&mut self, pod: &Pod, observed: &Observed) -> PodStatus {
        let ips = observed
            .sandbox
            .as_ref()
            .map(|(_, ips)| ips.clone())
            .unwrap_or_default();
        let probes = self.probes.views();
        // The informer may lag behind our own last write: then start from what we wrote,
        // and do not write it again because the informer still shows the older status.
        let lagging = lags_behind(self.written_rv, pod);
        let with_written;
        let base = match (lagging, &self.written) {
            (true, Some(written)) => {
                let mut pod = pod.clone();
                pod.status = written.clone();
                with_written = pod;
                &with_written
            }
            _ => pod,
        };
        let status = compute(&StatusInputs {
            pod: base,
            host_ip: &self.ctx.host_ip,
            sandbox_ips: &ips,
            sandbox_ready: observed.sandbox.is_some(),
            containers: &observed.containers,
            waiting: &self.waiting,
            probes: &probes,
            runtime_name: &self.ctx.runtime_name,
            failed: self.failed.as_ref(),
            now: Time::now(),
        });
        if !needs_write(lagging, self.written.as_ref(), &pod.status, &status) {
            // Once the informer shows this worker's last write, the copy of it is not
            // needed: a pod that runs on keeps no second status besides the informer's.
            self.written = lagging.then(|| status.clone());
            return status;
        }
        match patch_pod_status(&self.ctx.client, pod, &status).await {
            Ok(written) => {
                self.written = Some(status.clone());
                self.written_rv = resource_version(&written.metadata);
            }
            Err(e) if e.code() == 404 => {}
            Err(e) => tracing::warn!(error = %e, "writing the pod status"),
        }
        status
    }
}

/// Writes `status` as the pod's status (a merge patch of `pods/status`). The answer is
/// read for its metadata only: decoding the whole pod back would cost as much as the
/// write's own encoding, and only its resourceVersion is of use.
pub(crate) async fn patch_pod_status(
    client: &Client,
    pod: &Pod,
    status: &PodStatus,
) -> Result<PartialObjectMeta<Pod>, kube_core::Error> {
    /// The body: the status, serialized as it is (no JSON value built in between).
    #[derive(serde::Serialize)]
    struct StatusPatch<'a> {
        status: &'a PodStatus,
    }
    let api: Api<PartialObjectMeta<Pod>> = Api::namespaced(
        client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    );
    api.patch_status(
        pod.metadata.name.as_deref().unwrap_or(""),
        &PatchParams::default(),
        &Patch::Merge(&StatusPatch { status }),
    )
    .await
}

/// The object's resourceVersion as a number, when it is one (this SDK's stores and etcd
/// number their revisions; other servers may not, and then nothing is compared).
fn resource_version(meta: &ObjectMeta) -> Option<u64> {
    meta.resource_version.as_deref()?.parse().ok()
}

/// Whether the informer's copy of the pod is older than our last status write.
fn lags_behind(written_rv: Option<u64>, pod: &Pod) -> bool {
    match (written_rv, resource_version(&pod.metadata)) {
        (Some(written), Some(seen)) => seen < written,
        _ => false,
    }
}

/// Whether `status` must be written: not when the pod shows it already, nor when the
/// pod's copy lags behind a write of this very status (writing it again on every sync
/// while the informer catches up would only add load, and lag).
fn needs_write(
    lagging: bool,
    written: Option<&PodStatus>,
    shown: &PodStatus,
    status: &PodStatus,
) -> bool {
    if lagging && written == Some(status) {
        return false;
    }
    shown != status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lagging_informer_does_not_make_the_status_written_again() {
        let running = PodStatus {
            phase: Some(PodPhase::Running),
            ..PodStatus::default()
        };
        let pending = PodStatus {
            phase: Some(PodPhase::Pending),
            ..PodStatus::default()
        };
        let mut pod = Pod::default();
        pod.metadata.resource_version = Some("41".into());
        assert!(lags_behind(Some(42), &pod));
        assert!(!lags_behind(Some(41), &pod));
        assert!(!lags_behind(None, &pod));
        pod.metadata.resource_version = Some("opaque".into());
        assert!(
            !lags_behind(Some(42), &pod),
            "no order between opaque versions"
        );

        // Written, the informer not there yet: nothing to write.
        assert!(!needs_write(true, Some(&running), &pending, &running));
        // A new status while lagging is written.
        let failed = PodStatus {
            phase: Some(PodPhase::Failed),
            ..PodStatus::default()
        };
        assert!(needs_write(true, Some(&running), &pending, &failed));
        // Caught up, and somebody else changed the status since: written again.
        assert!(needs_write(false, Some(&running), &pending, &running));
        // The pod shows it: nothing to write.
        assert!(!needs_write(false, None, &running, &running));
    }
}
