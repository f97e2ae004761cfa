//! What the loop writes to the API server: bindings (`pods/binding`), the `PodScheduled`
//! condition and `status.nominatedNodeName` (`pods/status`), and the eviction of
//! preemption victims (a graceful delete, after a `DisruptionTarget` condition).

use async_trait::async_trait;
use kube_api::client::{Api, Client, DeleteParams, Patch, PatchParams, Preconditions};
use kube_core::{
    BoxError, ConditionStatus, Error as ApiError, ObjectKey, Pod, PodConditionType, PodInfo, Time,
};
use serde_json::{Value, json};

use crate::plugins::PodBinder;

/// The reason of `PodScheduled=False` when no node fits (Kubernetes:
/// `v1.PodReasonUnschedulable`).
pub const REASON_UNSCHEDULABLE: &str = "Unschedulable";
/// The reason of `PodScheduled=False` when scheduling failed for another cause (a plugin
/// error, a failed binding).
pub const REASON_SCHEDULER_ERROR: &str = "SchedulerError";
/// The reason of a victim's `DisruptionTarget` condition.
pub const REASON_PREEMPTION: &str = "PreemptionByScheduler";

/// Binds pods through the API server's `pods/binding` subresource: the [`PodBinder`] of
/// the default profile when the loop runs against a cluster.
#[derive(Clone, Debug)]
pub struct ApiBinder {
    client: Client,
}

impl ApiBinder {
    /// Binds through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn pods(client: &Client, key: &ObjectKey) -> Api<Pod> {
    Api::namespaced(
        client.clone(),
        key.namespace.as_deref().unwrap_or("default"),
    )
}

#[async_trait]
impl PodBinder for ApiBinder {
    async fn bind(&self, pod: &ObjectKey, _uid: Option<&str>, node: &str) -> Result<(), BoxError> {
        pods(&self.client, pod).bind(&pod.name, node).await?;
        Ok(())
    }
}

/// True when the pod already says exactly this: the write would change nothing.
fn condition_unchanged(pod: &Pod, reason: &str, message: &str, nominated: Option<&str>) -> bool {
    let same_condition = pod.status.conditions.iter().any(|c| {
        c.type_ == PodConditionType::PodScheduled
            && c.status == ConditionStatus::False
            && c.reason.as_deref() == Some(reason)
            && c.message.as_deref() == Some(message)
    });
    let same_nomination =
        nominated.is_none_or(|n| pod.status.nominated_node_name.as_deref() == Some(n));
    same_condition && same_nomination
}

/// The strategic merge patch of `pods/status` that records a failed attempt: the
/// `PodScheduled=False` condition (merged by type) and, after preemption, the nominated
/// node.
pub(crate) fn unschedulable_patch(reason: &str, message: &str, nominated: Option<&str>) -> Value {
    let mut status = json!({
        "conditions": [{
            "type": "PodScheduled",
            "status": "False",
            "reason": reason,
            "message": message,
            "lastProbeTime": null,
            "lastTransitionTime": Time::now(),
        }],
    });
    if let Some(node) = nominated {
        status["nominatedNodeName"] = json!(node);
    }
    json!({ "status": status })
}

/// Records why `pod` was not scheduled, unless it already says so. A pod deleted
/// meanwhile is not an error.
pub(crate) async fn record_failure(
    client: &Client,
    pod: &PodInfo,
    reason: &str,
    message: &str,
    nominated: Option<&str>,
) -> Result<(), ApiError> {
    if condition_unchanged(pod.pod(), reason, message, nominated) {
        return Ok(());
    }
    let patch = Patch::Strategic(unschedulable_patch(reason, message, nominated));
    match pods(client, pod.key())
        .patch_status(&pod.key().name, &PatchParams::default(), &patch)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Evicts one preemption victim as Kubernetes does: marks it with a `DisruptionTarget`
/// condition, then deletes it gracefully (its node agent stops it within its grace
/// period). `uid`, when known, guards against deleting a newer pod of the same name.
pub(crate) async fn evict_victim(
    client: &Client,
    victim: &ObjectKey,
    uid: Option<&str>,
    scheduler_name: &str,
) -> Result<(), ApiError> {
    let api = pods(client, victim);
    let condition = Patch::Strategic(json!({
        "status": {"conditions": [{
            "type": "DisruptionTarget",
            "status": "True",
            "reason": REASON_PREEMPTION,
            "message": format!("{scheduler_name}: preempting to accommodate a higher priority pod"),
            "lastTransitionTime": Time::now(),
        }]}
    }));
    match api
        .patch_status(&victim.name, &PatchParams::default(), &condition)
        .await
    {
        Ok(_) => {}
        Err(e) if e.code() == 404 => return Ok(()),
        Err(e) => return Err(e),
    }
    let params = DeleteParams {
        preconditions: uid.map(|uid| Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&victim.name, &params).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// True when a binding failed because the pod is gone: nothing to record or retry.
pub(crate) fn is_not_found(err: &crate::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(api) = e.downcast_ref::<ApiError>() {
            return api.code() == 404;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pod;
    use kube_core::PodCondition;

    #[test]
    fn the_patch_carries_the_condition_and_the_nomination() {
        let p = unschedulable_patch(REASON_UNSCHEDULABLE, "0/1 nodes are available.", Some("n1"));
        assert_eq!(p["status"]["nominatedNodeName"], "n1");
        let c = &p["status"]["conditions"][0];
        assert_eq!(c["type"], "PodScheduled");
        assert_eq!(c["status"], "False");
        assert_eq!(c["reason"], "Unschedulable");
        assert_eq!(c["message"], "0/1 nodes are available.");
        let plain = unschedulable_patch(REASON_SCHEDULER_ERROR, "x", None);
        assert!(plain["status"].get("nominatedNodeName").is_none());
    }

    #[test]
    fn an_identical_condition_is_not_written_again() {
        let mut p = pod("p").pod();
        assert!(!condition_unchanged(&p, "Unschedulable", "m", None));
        p.status.conditions.push(PodCondition {
            reason: Some("Unschedulable".into()),
            message: Some("m".into()),
            ..PodCondition::new(PodConditionType::PodScheduled, ConditionStatus::False)
        });
        assert!(condition_unchanged(&p, "Unschedulable", "m", None));
        assert!(!condition_unchanged(&p, "Unschedulable", "other", None));
        assert!(!condition_unchanged(&p, "Unschedulable", "m", Some("n1")));
        p.status.nominated_node_name = Some("n1".into());
        assert!(condition_unchanged(&p, "Unschedulable", "m", Some("n1")));
    }

    #[test]
    fn not_found_is_recognised_through_the_plugin_error() {
        let gone = crate::Error::Plugin {
            plugin: "DefaultBinder",
            source: Box::new(ApiError::NotFound(kube_core::ObjectRef::new(
                "", "pods", "p",
            ))),
        };
        assert!(is_not_found(&gone));
        let conflict = crate::Error::Plugin {
            plugin: "DefaultBinder",
            source: Box::new(ApiError::BadRequest("no".into())),
        };
        assert!(!is_not_found(&conflict));
        assert!(!is_not_found(&crate::Error::PermitTimeout));
    }
}
