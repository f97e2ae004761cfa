//! Claiming dependents (Kubernetes' `ControllerRefManager`): an owner keeps the objects
//! whose controller reference points to it and that its selector still matches, releases
//! those it no longer matches, and adopts orphans it matches.
//!
//! Adoption checks first, with a fresh read, that the owner still exists with the same
//! uid and is not being deleted (so a deleted owner's replacement of the same name does
//! not adopt its predecessor's orphans). Both patches carry the dependent's
//! resourceVersion: a dependent that changed meanwhile is a conflict, retried later.

use std::sync::Arc;

use kube_api::client::{Api, Client, Patch, PatchParams};
use kube_core::{LabelSelector, OwnerReference, Resource, ResourceExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::{Error, Result};

/// The owner side of a claim.
pub(crate) struct Owner<'a, O: Resource<DynamicType = ()>> {
    pub(crate) object: &'a O,
    pub(crate) selector: &'a LabelSelector,
}

/// Returns the dependents `owner` controls after adopting and releasing as its selector
/// says. `candidates` are the dependents in the owner's namespace.
pub(crate) async fn claim<O, C>(
    client: &Client,
    owner: Owner<'_, O>,
    candidates: Vec<Arc<C>>,
) -> Result<Vec<Arc<C>>>
where
    O: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Send + Sync + 'static,
    C: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let Some(owner_ref) = owner.object.controller_owner_ref(&()) else {
        return Ok(Vec::new());
    };
    let namespace = owner.object.namespace().unwrap_or_default().to_owned();
    let children: Api<C> = Api::namespaced(client.clone(), &namespace);
    let mut claimed = Vec::new();
    let mut adoption_checked: Option<bool> = None;
    for child in candidates {
        let matches = owner.selector.matches(&child.meta().labels);
        match child.controller_owner() {
            Some(r) if r.uid == owner_ref.uid => {
                if matches || owner.object.is_being_deleted() {
                    claimed.push(child);
                } else if !child.is_being_deleted() {
                    release(&children, &child, &owner_ref.uid).await?;
                }
            }
            Some(_) => {}
            None => {
                if !matches || child.is_being_deleted() || owner.object.is_being_deleted() {
                    continue;
                }
                let can_adopt = match adoption_checked {
                    Some(v) => v,
                    None => {
                        let v = still_current(client, owner.object).await?;
                        adoption_checked = Some(v);
                        v
                    }
                };
                if !can_adopt {
                    continue;
                }
                if let Some(adopted) = adopt(&children, &child, &owner_ref).await? {
                    claimed.push(adopted);
                }
            }
        }
    }
    Ok(claimed)
}

/// True when the owner, read fresh, has the same uid and is not being deleted.
async fn still_current<O>(client: &Client, owner: &O) -> Result<bool>
where
    O: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let api: Api<O> = Api::namespaced(client.clone(), owner.namespace().unwrap_or_default());
    match api.get_opt(owner.name_any()).await? {
        Some(fresh) => Ok(fresh.uid() == owner.uid() && !fresh.is_being_deleted()),
        None => Ok(false),
    }
}

async fn adopt<C>(api: &Api<C>, child: &C, owner_ref: &OwnerReference) -> Result<Option<Arc<C>>>
where
    C: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let mut refs = child.meta().owner_references.clone();
    refs.push(owner_ref.clone());
    let patch = json!({"metadata": {
        "ownerReferences": refs,
        "resourceVersion": child.resource_version(),
        "uid": child.uid(),
    }});
    tracing::info!(child = %child.name_any(), owner = %owner_ref.name, "adopting");
    match api
        .patch(
            child.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(adopted) => Ok(Some(Arc::new(adopted))),
        Err(e) if e.code() == 404 => Ok(None),
        Err(e) => Err(Error::Api(e)),
    }
}

async fn release<C>(api: &Api<C>, child: &C, owner_uid: &str) -> Result<()>
where
    C: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let refs: Vec<&OwnerReference> = child
        .meta()
        .owner_references
        .iter()
        .filter(|r| r.uid != owner_uid)
        .collect();
    let patch = json!({"metadata": {
        "ownerReferences": refs,
        "resourceVersion": child.resource_version(),
        "uid": child.uid(),
    }});
    tracing::info!(child = %child.name_any(), "releasing");
    match api
        .patch(
            child.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.code(), 404 | 422) => Ok(()),
        Err(e) => Err(Error::Api(e)),
    }
}
