//! Triggers: tasks that turn cache changes into keys of the primary kind.
//!
//! - the primary object itself;
//! - an owned object: the owner its controller reference names, if it is of the primary
//!   kind (an update that changes the owner reconciles both, old and new);
//! - any object through a mapping function (applied to the old and new state).

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::StreamExt as _;
use futures::stream::BoxStream;
use kube_core::{ApiResource, ObjectKey, ObjectMeta};
use tokio::task::JoinHandle;

use super::queue::WorkQueue;
use super::source::Event;

/// Starts a trigger on a queue: what a controller builder keeps until it runs.
pub(crate) type TriggerFn = Arc<dyn Fn(WorkQueue<ObjectKey>) -> JoinHandle<()> + Send + Sync>;

/// Maps an object to the primary keys it concerns.
pub(crate) type KeysFn<T> = Arc<dyn Fn(&T) -> Vec<ObjectKey> + Send + Sync>;

/// Feeds the keys `map` finds in each change into `queue`, until the stream ends.
pub(crate) fn spawn<T: ?Sized + Send + Sync + 'static>(
    mut events: BoxStream<'static, Event<T>>,
    map: KeysFn<T>,
    queue: WorkQueue<ObjectKey>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let (new, old) = event.objects();
            let mut keys: BTreeSet<ObjectKey> = map(new).into_iter().collect();
            if let Some(old) = old {
                keys.extend(map(old));
            }
            for key in keys {
                queue.add(key);
            }
        }
    })
}

/// The key of the object itself.
pub(crate) fn own_key(meta: &ObjectMeta) -> Vec<ObjectKey> {
    meta.name
        .as_ref()
        .map(|name| ObjectKey {
            namespace: meta.namespace.clone(),
            name: name.clone(),
        })
        .into_iter()
        .collect()
}

/// The key of the owner that the object's controller reference names, when the owner is of
/// kind `owner`. An owner reference names the owner's group (its version may differ).
pub(crate) fn owner_key(meta: &ObjectMeta, owner: &ApiResource) -> Vec<ObjectKey> {
    let Some(r) = meta
        .owner_references
        .iter()
        .find(|r| r.controller == Some(true))
    else {
        return Vec::new();
    };
    let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    if r.kind != owner.kind || group != owner.group {
        return Vec::new();
    }
    vec![ObjectKey {
        namespace: if owner.namespaced {
            meta.namespace.clone()
        } else {
            None
        },
        name: r.name.clone(),
    }]
}

#[cfg(test)]
mod tests {
    use kube_core::{OwnerReference, ReplicaSet, StaticResource};

    use super::*;

    fn meta_owned_by(api_version: &str, kind: &str, controller: bool) -> ObjectMeta {
        ObjectMeta {
            name: Some("web-1".into()),
            namespace: Some("prod".into()),
            owner_references: vec![OwnerReference {
                api_version: api_version.into(),
                kind: kind.into(),
                name: "web".into(),
                uid: "u".into(),
                controller: Some(controller),
                block_owner_deletion: None,
            }],
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn owners_are_matched_by_group_and_kind() {
        let rs = ReplicaSet::API_RESOURCE;
        assert_eq!(
            owner_key(&meta_owned_by("apps/v1", "ReplicaSet", true), &rs),
            vec![ObjectKey::namespaced("prod", "web")]
        );
        assert_eq!(
            owner_key(&meta_owned_by("apps/v1beta2", "ReplicaSet", true), &rs).len(),
            1,
            "another version of the same group"
        );
        assert!(owner_key(&meta_owned_by("apps/v1", "ReplicaSet", false), &rs).is_empty());
        assert!(owner_key(&meta_owned_by("apps/v1", "Deployment", true), &rs).is_empty());
        assert!(owner_key(&meta_owned_by("extensions/v1", "ReplicaSet", true), &rs).is_empty());
        // A cluster-scoped owner has no namespace in its key.
        let node = kube_core::Node::API_RESOURCE;
        assert_eq!(
            owner_key(&meta_owned_by("v1", "Node", true), &node),
            vec![ObjectKey::cluster("web")]
        );
        assert_eq!(
            own_key(&meta_owned_by("v1", "Node", true)),
            vec![ObjectKey::namespaced("prod", "web-1")]
        );
    }
}
