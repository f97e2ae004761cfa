//! Sources of objects for the runtime: typed informers erased to [`AnyObject`], and the
//! [`KindRegistry`] that picks the typed informer for a kind named only by its
//! [`ApiResource`] (as [`kube_core::Controller::watches`] names them).
//!
//! The registry is what keeps "one list+watch and one cache per kind" true across both
//! controller shapes: a typed controller asking for `Pod` and a trait controller watching
//! the `pods` [`ApiResource`] get the same `SharedInformer<Pod>` from the manager's
//! factory. Kinds nobody registered are watched as [`DynamicObject`]s.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use kube_api::informer::{InformerEvent, SharedInformer, SharedInformerFactory};
use kube_core::{
    ApiResource, ConfigMap, CustomResourceDefinition, DaemonSet, Deployment, DynamicObject,
    Endpoints, Job, Lease, Namespace, Node, ObjectKey, ObjectMeta, Pod, ReplicaSet, Resource,
    Secret, Service, StaticResource,
};
use parking_lot::RwLock;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An object of any kind: its metadata, and a way to see it as a [`DynamicObject`].
pub trait AnyObject: Send + Sync + 'static {
    /// The object's metadata.
    fn object_meta(&self) -> &ObjectMeta;

    /// The object as a [`DynamicObject`] (a JSON round trip for typed kinds).
    fn to_dynamic(&self) -> Result<DynamicObject, serde_json::Error>;
}

impl<K: Resource + Serialize + Send + Sync + 'static> AnyObject for K {
    fn object_meta(&self) -> &ObjectMeta {
        self.meta()
    }

    fn to_dynamic(&self) -> Result<DynamicObject, serde_json::Error> {
        serde_json::to_value(self).and_then(serde_json::from_value)
    }
}

/// A change to a cache, of a typed object or an erased one.
pub(crate) enum Event<T: ?Sized> {
    Added(Arc<T>),
    Updated(Arc<T>, Arc<T>),
    Deleted(Arc<T>),
}

impl<T: ?Sized> Event<T> {
    /// The object now (or last, for a deletion), and the one before for an update.
    pub(crate) fn objects(&self) -> (&Arc<T>, Option<&Arc<T>>) {
        match self {
            Self::Added(o) | Self::Deleted(o) => (o, None),
            Self::Updated(old, new) => (new, Some(old)),
        }
    }
}

impl<K> From<InformerEvent<K>> for Event<K> {
    fn from(e: InformerEvent<K>) -> Self {
        match e {
            InformerEvent::Added(o) => Self::Added(o),
            InformerEvent::Updated { old, new } => Self::Updated(old, new),
            InformerEvent::Deleted(o) => Self::Deleted(o),
        }
    }
}

fn erase<K: AnyObject>(e: InformerEvent<K>) -> Event<dyn AnyObject> {
    let cast = |o: Arc<K>| -> Arc<dyn AnyObject> { o };
    match e {
        InformerEvent::Added(o) => Event::Added(cast(o)),
        InformerEvent::Updated { old, new } => Event::Updated(cast(old), cast(new)),
        InformerEvent::Deleted(o) => Event::Deleted(cast(o)),
    }
}

type SubscribeFn = Arc<dyn Fn() -> BoxStream<'static, Event<dyn AnyObject>> + Send + Sync>;
type SyncedFn = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;
type ListFn = Arc<dyn Fn() -> Vec<Arc<dyn AnyObject>> + Send + Sync>;
type GetFn = Arc<dyn Fn(&ObjectKey) -> Option<Arc<dyn AnyObject>> + Send + Sync>;

/// A shared informer of any kind, with its type erased.
#[derive(Clone)]
pub struct AnyInformer {
    resource: ApiResource,
    subscribe: SubscribeFn,
    synced: SyncedFn,
    list: ListFn,
    get: GetFn,
}

impl fmt::Debug for AnyInformer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyInformer")
            .field("resource", &self.resource.plural)
            .finish_non_exhaustive()
    }
}

impl AnyInformer {
    /// Erases a typed shared informer.
    pub fn new<K>(resource: ApiResource, informer: &SharedInformer<K>) -> Self
    where
        K: Resource + Serialize + Send + Sync + 'static,
    {
        let cache = informer.cache();
        let (c1, c2, c3) = (cache.clone(), cache.clone(), cache);
        Self {
            resource,
            subscribe: Arc::new(move || c1.subscribe().map(erase::<K>).boxed()),
            synced: Arc::new(move || {
                let cache = c2.clone();
                Box::pin(async move { cache.wait_until_synced().await })
            }),
            list: Arc::new(move || {
                c3.list()
                    .into_iter()
                    .map(|o| -> Arc<dyn AnyObject> { o })
                    .collect()
            }),
            get: {
                let cache = informer.cache();
                Arc::new(move |key| cache.get(key).map(|o| -> Arc<dyn AnyObject> { o }))
            },
        }
    }

    /// The kind.
    pub fn resource(&self) -> &ApiResource {
        &self.resource
    }

    /// Every change from now on, preceded by the current objects as added.
    pub(crate) fn subscribe(&self) -> BoxStream<'static, Event<dyn AnyObject>> {
        (self.subscribe)()
    }

    /// Waits until the cache holds a complete list.
    pub async fn wait_until_synced(&self) {
        (self.synced)().await;
    }

    /// Every cached object.
    pub fn list(&self) -> Vec<Arc<dyn AnyObject>> {
        (self.list)()
    }

    /// The cached object with this key.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<dyn AnyObject>> {
        (self.get)(key)
    }
}

type MakeFn = Arc<dyn Fn(&SharedInformerFactory) -> AnyInformer + Send + Sync>;
/// A kind's group, version and kind.
type Gvk = (String, String, String);

/// Which Rust type serves each kind, so that controllers naming a kind by its
/// [`ApiResource`] share the typed informer; see the [module docs](self).
///
/// Every kind of kube-core is registered by [`KindRegistry::with_builtin_kinds`]; a
/// platform registers its own typed custom resources with [`KindRegistry::register`].
#[derive(Clone, Default)]
pub struct KindRegistry {
    kinds: Arc<RwLock<HashMap<Gvk, MakeFn>>>,
}

impl fmt::Debug for KindRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KindRegistry")
            .field("kinds", &self.kinds.read().len())
            .finish()
    }
}

fn registry_key(ar: &ApiResource) -> Gvk {
    (
        ar.group.to_string(),
        ar.version.to_string(),
        ar.kind.to_string(),
    )
}

impl KindRegistry {
    /// A registry with no kinds: everything is watched as [`DynamicObject`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with every kind kube-core defines.
    pub fn with_builtin_kinds() -> Self {
        let r = Self::new();
        r.register::<Pod>();
        r.register::<Node>();
        r.register::<Service>();
        r.register::<Endpoints>();
        r.register::<Namespace>();
        r.register::<kube_core::Event>();
        r.register::<ConfigMap>();
        r.register::<Secret>();
        r.register::<Lease>();
        r.register::<ReplicaSet>();
        r.register::<Deployment>();
        r.register::<DaemonSet>();
        r.register::<Job>();
        r.register::<CustomResourceDefinition>();
        r.register::<kube_core::Role>();
        r.register::<kube_core::ClusterRole>();
        r.register::<kube_core::RoleBinding>();
        r.register::<kube_core::ClusterRoleBinding>();
        r
    }

    /// Serves the kind of `K` with `K`'s typed informer.
    pub fn register<K>(&self)
    where
        K: StaticResource + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let ar = K::API_RESOURCE;
        let make: MakeFn = Arc::new(move |factory: &SharedInformerFactory| {
            AnyInformer::new(K::API_RESOURCE, &factory.informer::<K>())
        });
        self.kinds.write().insert(registry_key(&ar), make);
    }

    /// True when a typed informer serves this kind.
    pub fn is_registered(&self, ar: &ApiResource) -> bool {
        self.kinds.read().contains_key(&registry_key(ar))
    }

    /// The factory's informer for this kind: the typed one if registered, otherwise a
    /// [`DynamicObject`] informer.
    pub fn informer(&self, factory: &SharedInformerFactory, ar: &ApiResource) -> AnyInformer {
        let make = self.kinds.read().get(&registry_key(ar)).cloned();
        match make {
            Some(make) => make(factory),
            None => AnyInformer::new(ar.clone(), &factory.informer_with::<DynamicObject>(ar)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kinds_are_registered_by_group_version_kind() {
        let r = KindRegistry::with_builtin_kinds();
        assert!(r.is_registered(&Pod::API_RESOURCE));
        assert!(r.is_registered(&ApiResource::new(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            true
        )));
        assert!(!r.is_registered(&ApiResource::new(
            "apps",
            "v2",
            "Deployment",
            "deployments",
            true
        )));
        assert!(!r.is_registered(&ApiResource::new(
            "example.com",
            "v1",
            "Fleet",
            "fleets",
            true
        )));
    }

    #[test]
    fn typed_objects_convert_to_dynamic_ones() {
        let mut pod = Pod::default();
        pod.metadata.name = Some("p".into());
        let any: Arc<dyn AnyObject> = Arc::new(pod);
        assert_eq!(any.object_meta().name.as_deref(), Some("p"));
        let d = any.to_dynamic().unwrap();
        assert_eq!(d.types.unwrap().kind, "Pod");
    }
}
