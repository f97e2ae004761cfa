//! The [`Resource`] trait: what every kind tells about itself (group, version, kind, plural,
//! scope) and how to reach its metadata, plus helpers in [`ResourceExt`].

use std::borrow::Cow;
use std::fmt;

use crate::meta::{ObjectMeta, OwnerReference};

/// How the API serves one kind: its group, version, kind, plural and scope.
///
/// Static kinds hold a `const` of this; kinds registered at run time (custom resources)
/// build one from their registration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ApiResource {
    /// API group; empty for the core group.
    pub group: Cow<'static, str>,
    /// API version within the group (`"v1"`).
    pub version: Cow<'static, str>,
    /// Kind, in CamelCase (`"Deployment"`).
    pub kind: Cow<'static, str>,
    /// Resource name in URLs, lower-case plural (`"deployments"`).
    pub plural: Cow<'static, str>,
    /// True when objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts (`["deploy"]`).
    pub short_names: Cow<'static, [Cow<'static, str>]>,
    /// Categories for `kubectl get <category>` (`["all"]`).
    pub categories: Cow<'static, [Cow<'static, str>]>,
}

impl ApiResource {
    /// A resource with no short names and no categories.
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        kind: impl Into<String>,
        plural: impl Into<String>,
        namespaced: bool,
    ) -> Self {
        Self {
            group: Cow::Owned(group.into()),
            version: Cow::Owned(version.into()),
            kind: Cow::Owned(kind.into()),
            plural: Cow::Owned(plural.into()),
            namespaced,
            short_names: Cow::Borrowed(&[]),
            categories: Cow::Borrowed(&[]),
        }
    }

    /// `group/version`, or the bare version for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The singular resource name: the kind in lower case.
    pub fn singular(&self) -> String {
        self.kind.to_ascii_lowercase()
    }

    /// The URL path of the collection: `/api/v1/namespaces/{ns}/pods`,
    /// `/apis/apps/v1/deployments` (all namespaces) or `/api/v1/nodes`.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let mut path = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        if let (true, Some(ns)) = (self.namespaced, namespace) {
            path.push_str("/namespaces/");
            path.push_str(ns);
        }
        path.push('/');
        path.push_str(&self.plural);
        path
    }

    /// The URL path of one object.
    pub fn object_path(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{name}", self.collection_path(namespace))
    }
}

/// A Kubernetes kind: where it is served and how to reach its metadata.
///
/// Static kinds (every kind in this crate) have `DynamicType = ()`; [`DynamicObject`]
/// carries an [`ApiResource`] instead, since its kind is known only at run time.
///
/// [`DynamicObject`]: crate::DynamicObject
pub trait Resource {
    /// What is needed, besides the type, to know the kind: `()` for static kinds.
    type DynamicType: Send + Sync + 'static;

    /// Group, version, kind, plural and scope.
    fn api_resource(dt: &Self::DynamicType) -> Cow<'_, ApiResource>;

    /// The object's metadata.
    fn meta(&self) -> &ObjectMeta;

    /// The object's metadata, mutable.
    fn meta_mut(&mut self) -> &mut ObjectMeta;

    /// The `Accept` header a client reads this type with (`list`: for a list of them).
    /// The kind's own JSON by default; a type that reads part of an object may ask the
    /// server for only that part ([`PartialObjectMeta`] asks for metadata only, falling
    /// back to the whole object on servers that cannot).
    ///
    /// [`PartialObjectMeta`]: crate::PartialObjectMeta
    fn accept(list: bool) -> &'static str
    where
        Self: Sized,
    {
        let _ = list;
        "application/json"
    }
}

/// A kind known at compile time, with its [`ApiResource`] as a constant.
pub trait StaticResource: Resource<DynamicType = ()> {
    /// How the API serves this kind.
    const API_RESOURCE: ApiResource;
}

/// The namespace and name of an object: the key of caches and work queues.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// The namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// A key in a namespace.
    pub fn namespaced(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// A key of a cluster-scoped object.
    pub fn cluster(name: impl Into<String>) -> Self {
        Self {
            namespace: None,
            name: name.into(),
        }
    }

    /// Parses `namespace/name` or `name`, as [`fmt::Display`] writes them.
    pub fn parse(s: &str) -> Self {
        match s.split_once('/') {
            Some((ns, name)) => Self::namespaced(ns, name),
            None => Self::cluster(s),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Convenience methods on every [`Resource`].
pub trait ResourceExt: Resource {
    /// The name, or the empty string when it has none yet.
    fn name_any(&self) -> &str {
        self.meta().name.as_deref().unwrap_or("")
    }

    /// The namespace, for namespaced objects.
    fn namespace(&self) -> Option<&str> {
        self.meta().namespace.as_deref()
    }

    /// The resourceVersion, if the object came from the server.
    fn resource_version(&self) -> Option<&str> {
        self.meta().resource_version.as_deref()
    }

    /// The uid, if the object came from the server.
    fn uid(&self) -> Option<&str> {
        self.meta().uid.as_deref()
    }

    /// The object's key (namespace and name).
    fn key(&self) -> ObjectKey {
        ObjectKey {
            namespace: self.meta().namespace.clone(),
            name: self.name_any().to_owned(),
        }
    }

    /// True once deletion was requested and the object waits for finalizers or grace.
    fn is_being_deleted(&self) -> bool {
        self.meta().deletion_timestamp.is_some()
    }

    /// The owner reference marked `controller: true`, if any.
    fn controller_owner(&self) -> Option<&OwnerReference> {
        self.meta()
            .owner_references
            .iter()
            .find(|r| r.controller == Some(true))
    }

    /// An owner reference to this object, marked as the controller, for the objects it
    /// creates. `None` until the object has a name and a uid.
    fn controller_owner_ref(&self, dt: &Self::DynamicType) -> Option<OwnerReference> {
        let ar = Self::api_resource(dt);
        Some(OwnerReference {
            api_version: ar.api_version(),
            kind: ar.kind.to_string(),
            name: self.meta().name.clone()?,
            uid: self.meta().uid.clone()?,
            controller: Some(true),
            block_owner_deletion: Some(true),
        })
    }
}

impl<K: Resource + ?Sized> ResourceExt for K {}

/// Implements [`Resource`], [`StaticResource`] and the wire `Serialize` for a typed kind.
///
/// The struct derives `Deserialize` (which ignores `apiVersion` and `kind`); this macro
/// writes `Serialize` so that every encoded object starts with its `apiVersion` and `kind`,
/// as Kubernetes' are, followed by the fields listed in `fields` (always written), then those
/// in `omit_empty` (left out when empty: `None`, or an empty collection or string; see
/// [`OmitEmpty`](crate::resource::OmitEmpty)).
///
/// ```
/// use kube_core::{ObjectMeta, impl_resource};
/// use serde::Deserialize;
///
/// /// A custom resource: a game server fleet.
/// #[derive(Clone, Debug, Default, PartialEq, Deserialize)]
/// #[serde(rename_all = "camelCase")]
/// pub struct Fleet {
///     /// Standard metadata.
///     #[serde(default)]
///     pub metadata: ObjectMeta,
///     /// How many servers.
///     #[serde(default)]
///     pub replicas: Option<i32>,
/// }
///
/// impl_resource!(Fleet {
///     group: "games.example.com", version: "v1", kind: "Fleet", plural: "fleets",
///     namespaced: true, short_names: ["fl"], categories: [],
///     fields: { metadata: "metadata" }, omit_empty: { replicas: "replicas" }
/// });
///
/// let fleet = Fleet { replicas: Some(3), ..Default::default() };
/// assert_eq!(
///     serde_json::to_string(&fleet).unwrap(),
///     r#"{"apiVersion":"games.example.com/v1","kind":"Fleet","metadata":{},"replicas":3}"#
/// );
/// ```
#[macro_export]
macro_rules! impl_resource {
    ($ty:ident {
        group: $group:literal, version: $version:literal, kind: $kind:literal,
        plural: $plural:literal, namespaced: $namespaced:literal,
        short_names: [$($short:literal),* $(,)?], categories: [$($cat:literal),* $(,)?],
        fields: { $($field:ident : $wire:literal),* $(,)? }
        $(, omit_empty: { $($ofield:ident : $owire:literal),* $(,)? })? $(,)?
    }) => {
        impl $crate::Resource for $ty {
            type DynamicType = ();

            fn api_resource(_: &()) -> ::std::borrow::Cow<'_, $crate::ApiResource> {
                static API_RESOURCE: $crate::ApiResource =
                    <$ty as $crate::StaticResource>::API_RESOURCE;
                ::std::borrow::Cow::Borrowed(&API_RESOURCE)
            }

            fn meta(&self) -> &$crate::ObjectMeta {
                &self.metadata
            }

            fn meta_mut(&mut self) -> &mut $crate::ObjectMeta {
                &mut self.metadata
            }
        }

        impl $crate::StaticResource for $ty {
            const API_RESOURCE: $crate::ApiResource = $crate::ApiResource {
                group: ::std::borrow::Cow::Borrowed($group),
                version: ::std::borrow::Cow::Borrowed($version),
                kind: ::std::borrow::Cow::Borrowed($kind),
                plural: ::std::borrow::Cow::Borrowed($plural),
                namespaced: $namespaced,
                short_names: ::std::borrow::Cow::Borrowed(&[$(::std::borrow::Cow::Borrowed($short)),*]),
                categories: ::std::borrow::Cow::Borrowed(&[$(::std::borrow::Cow::Borrowed($cat)),*]),
            };
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use ::serde::ser::SerializeStruct as _;
                const API_VERSION: &str =
                    if $group.is_empty() { $version } else { concat!($group, "/", $version) };
                let len = 2 $(+ { let _ = $wire; 1 })* $($(+ { let _ = $owire; 1 })*)?;
                let mut s = serializer.serialize_struct($kind, len)?;
                s.serialize_field("apiVersion", API_VERSION)?;
                s.serialize_field("kind", $kind)?;
                $( s.serialize_field($wire, &self.$field)?; )*
                $($(
                    if $crate::resource::OmitEmpty::is_empty_value(&self.$ofield) {
                        s.skip_field($owire)?;
                    } else {
                        s.serialize_field($owire, &self.$ofield)?;
                    }
                )*)?
                s.end()
            }
        }
    };
}

/// Values that [`impl_resource!`] omits when empty (fields marked `?`).
pub trait OmitEmpty {
    /// True when the value is empty and the field is left out of the encoding.
    fn is_empty_value(&self) -> bool;
}

impl<T> OmitEmpty for Option<T> {
    fn is_empty_value(&self) -> bool {
        self.is_none()
    }
}

impl<T> OmitEmpty for Vec<T> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

impl<K, V> OmitEmpty for std::collections::BTreeMap<K, V> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

impl OmitEmpty for String {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

impl OmitEmpty for bool {
    fn is_empty_value(&self) -> bool {
        !*self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_group_and_scope() {
        let deploy = ApiResource::new("apps", "v1", "Deployment", "deployments", true);
        assert_eq!(deploy.api_version(), "apps/v1");
        assert_eq!(
            deploy.object_path(Some("default"), "web"),
            "/apis/apps/v1/namespaces/default/deployments/web"
        );
        assert_eq!(deploy.collection_path(None), "/apis/apps/v1/deployments");
        let node = ApiResource::new("", "v1", "Node", "nodes", false);
        assert_eq!(node.api_version(), "v1");
        assert_eq!(node.object_path(Some("ignored"), "n1"), "/api/v1/nodes/n1");
        assert_eq!(node.singular(), "node");
    }

    #[test]
    fn object_keys_print_and_parse() {
        for key in [
            ObjectKey::namespaced("default", "web"),
            ObjectKey::cluster("node-1"),
        ] {
            assert_eq!(ObjectKey::parse(&key.to_string()), key);
        }
    }
}
