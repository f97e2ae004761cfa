//! What `kubectl rollout undo` and `kubectl rollout status` do, for programs.

use std::collections::BTreeMap;

use kube_api::client::{Api, Client, ListParams, Patch, PatchParams};
use kube_core::{Deployment, DeploymentConditionType, ReplicaSet, ResourceExt as _};
use serde_json::json;

use super::revision::{ANNOTATIONS_TO_SKIP, POD_TEMPLATE_HASH_LABEL, equal_ignore_hash, revision};
use super::status::TIMED_OUT_REASON;

/// Why a rollback was not done.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// A request failed.
    #[error("{0}")]
    Api(#[from] kube_core::Error),
    /// `kubectl`'s refusal: a paused Deployment is not rolled back.
    #[error(
        "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
    )]
    Paused,
    /// No ReplicaSet has that revision.
    #[error("unable to find specified revision {0} in history")]
    NoRevision(i64),
    /// There is no revision before the current one.
    #[error("no rollout history found for deployment {0:?}")]
    NoHistory(String),
}

/// Rolls a Deployment back to `to_revision` (0: the revision before the current one), as
/// `kubectl rollout undo` does: copies that ReplicaSet's template (without
/// `pod-template-hash`) and annotations into the Deployment. Returns the revision rolled
/// back to, or `None` when the template already matched (`kubectl` says "skipped
/// rollback").
pub async fn rollback(
    client: &Client,
    namespace: &str,
    name: &str,
    to_revision: i64,
) -> Result<Option<i64>, RollbackError> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let d = deployments.get(name).await?;
    if d.spec.paused {
        return Err(RollbackError::Paused);
    }
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let owned: Vec<ReplicaSet> = sets
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|rs| rs.controller_owner().map(|r| r.uid.as_str()) == d.uid())
        .collect();
    let target = if to_revision == 0 {
        let mut revisions: Vec<i64> = owned.iter().map(revision).collect();
        revisions.sort_unstable();
        revisions.dedup();
        if revisions.len() < 2 {
            return Err(RollbackError::NoHistory(name.to_owned()));
        }
        revisions[revisions.len() - 2]
    } else {
        to_revision
    };
    let Some(rs) = owned.iter().find(|rs| revision(rs) == target) else {
        return Err(RollbackError::NoRevision(target));
    };
    if equal_ignore_hash(&rs.spec.template, &d.spec.template) {
        return Ok(None);
    }
    let mut template = rs.spec.template.clone();
    template.metadata.labels.remove(POD_TEMPLATE_HASH_LABEL);
    let mut annotations: BTreeMap<String, String> = BTreeMap::new();
    for k in ANNOTATIONS_TO_SKIP {
        if let Some(v) = d.metadata.annotations.get(k) {
            annotations.insert(k.to_owned(), v.clone());
        }
    }
    for (k, v) in &rs.metadata.annotations {
        if !ANNOTATIONS_TO_SKIP.contains(&k.as_str()) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    let patch = json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]);
    deployments
        .patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await?;
    Ok(Some(target))
}

/// Where a rollout stands, as `kubectl rollout status` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RolloutStatus {
    /// Still going; the message is `kubectl`'s.
    Waiting(String),
    /// Done: `deployment "web" successfully rolled out`.
    Done(String),
    /// Past its progress deadline.
    Failed(String),
}

/// `kubectl rollout status`'s reading of a Deployment.
pub fn rollout_status(d: &Deployment) -> RolloutStatus {
    let name = d.name_any();
    if d.metadata.generation > d.status.observed_generation {
        return RolloutStatus::Waiting(
            "Waiting for deployment spec update to be observed...".to_owned(),
        );
    }
    if d.status
        .condition(&DeploymentConditionType::Progressing)
        .is_some_and(|c| c.reason.as_deref() == Some(TIMED_OUT_REASON))
    {
        return RolloutStatus::Failed(format!(
            "deployment {name:?} exceeded its progress deadline"
        ));
    }
    let s = &d.status;
    let updated = s.updated_replicas.unwrap_or(0);
    let replicas = s.replicas.unwrap_or(0);
    let available = s.available_replicas.unwrap_or(0);
    if let Some(want) = d.spec.replicas {
        if updated < want {
            return RolloutStatus::Waiting(format!(
                "Waiting for deployment {name:?} rollout to finish: {updated} out of {want} new replicas have been updated..."
            ));
        }
    }
    if replicas > updated {
        return RolloutStatus::Waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        ));
    }
    if available < updated {
        return RolloutStatus::Waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    RolloutStatus::Done(format!("deployment {name:?} successfully rolled out"))
}
