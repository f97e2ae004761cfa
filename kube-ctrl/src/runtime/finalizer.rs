//! A finalizer helper: run cleanup before an object goes, exactly as kube-rs's
//! `finalizer` does.
//!
//! - An object without the finalizer gets it first (nothing else runs: the change
//!   triggers the next reconcile).
//! - An object with it, not being deleted: [`FinalizerEvent::Apply`].
//! - An object being deleted that still has it: [`FinalizerEvent::Cleanup`]; when that
//!   succeeds the finalizer is removed and the API server lets the object go.
//!
//! The patches carry a JSON-patch `test`, so a finalizer list that changed meanwhile is a
//! conflict, never a lost write.

use std::future::Future;
use std::sync::Arc;

use kube_api::client::{Api, Patch, PatchParams};
use kube_core::{Action, Resource, ResourceExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// What the reconcile function is asked to do.
#[derive(Debug)]
pub enum FinalizerEvent<K> {
    /// Make the world match the object.
    Apply(Arc<K>),
    /// The object is being deleted: release what it holds. Must be idempotent.
    Cleanup(Arc<K>),
}

/// Why [`finalizer`] failed.
#[derive(Debug, thiserror::Error)]
pub enum FinalizerError<E: std::error::Error + 'static> {
    /// The reconcile function failed on `Apply`.
    #[error("apply failed: {0}")]
    ApplyFailed(#[source] E),
    /// The reconcile function failed on `Cleanup`.
    #[error("cleanup failed: {0}")]
    CleanupFailed(#[source] E),
    /// Adding the finalizer failed.
    #[error("cannot add the finalizer: {0}")]
    AddFinalizer(#[source] kube_core::Error),
    /// Removing the finalizer failed.
    #[error("cannot remove the finalizer: {0}")]
    RemoveFinalizer(#[source] kube_core::Error),
    /// The object has no name.
    #[error("the object has no name")]
    UnnamedObject,
}

/// Runs `reconcile` under the finalizer `name`; see the [module docs](self).
pub async fn finalizer<K, F, Fut, E>(
    api: &Api<K>,
    name: &str,
    obj: Arc<K>,
    reconcile: F,
) -> Result<Action, FinalizerError<E>>
where
    K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
    F: FnOnce(FinalizerEvent<K>) -> Fut,
    Fut: Future<Output = Result<Action, E>>,
    E: std::error::Error + 'static,
{
    let object_name = obj
        .meta()
        .name
        .clone()
        .ok_or(FinalizerError::UnnamedObject)?;
    let finalizers = &obj.meta().finalizers;
    let position = finalizers.iter().position(|f| f == name);
    match (obj.is_being_deleted(), position) {
        (false, Some(_)) => reconcile(FinalizerEvent::Apply(obj))
            .await
            .map_err(FinalizerError::ApplyFailed),
        (true, Some(i)) => {
            let action = reconcile(FinalizerEvent::Cleanup(obj.clone()))
                .await
                .map_err(FinalizerError::CleanupFailed)?;
            let patch = json!([
                {"op": "test", "path": format!("/metadata/finalizers/{i}"), "value": name},
                {"op": "remove", "path": format!("/metadata/finalizers/{i}")},
            ]);
            match api
                .patch(
                    &object_name,
                    &PatchParams::default(),
                    &Patch::<()>::Json(patch),
                )
                .await
            {
                Ok(_) => Ok(action),
                // Gone already: nothing left to hold.
                Err(e) if e.code() == 404 => Ok(action),
                Err(e) => Err(FinalizerError::RemoveFinalizer(e)),
            }
        }
        (false, None) => {
            let patch = if finalizers.is_empty() {
                json!([
                    {"op": "test", "path": "/metadata/resourceVersion", "value": obj.resource_version()},
                    {"op": "add", "path": "/metadata/finalizers", "value": [name]},
                ])
            } else {
                json!([
                    {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
                    {"op": "add", "path": "/metadata/finalizers/-", "value": name},
                ])
            };
            api.patch(
                &object_name,
                &PatchParams::default(),
                &Patch::<()>::Json(patch),
            )
            .await
            .map_err(FinalizerError::AddFinalizer)?;
            // The patch is a change: the next reconcile applies.
            Ok(Action::Done)
        }
        // Being deleted, and our finalizer is gone: nothing to do.
        (true, None) => Ok(Action::Done),
    }
}
