//! `PartialObjectMeta<K>`: an object of kind `K` read for its metadata only.
//!
//! A client that needs only an object's name, labels or resourceVersion (a write whose
//! answer only confirms the new version, a garbage collector walking owner references)
//! pays for decoding every field of the full kind. Reading the same JSON as a
//! `PartialObjectMeta<K>` skips everything but `metadata`, which is several times
//! cheaper for a pod with a full spec and status. It is served at `K`'s path, so
//! `Api<PartialObjectMeta<Pod>>` talks to the pods collection.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeStruct as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::meta::ObjectMeta;
use crate::resource::{ApiResource, Resource};

/// An object of kind `K` with only its metadata decoded (every other field is skipped
/// when read, and left out when written).
///
/// ```
/// use kube_core::{PartialObjectMeta, Pod, Resource};
///
/// let json = r#"{"apiVersion":"v1","kind":"Pod",
///     "metadata":{"name":"web","namespace":"default","resourceVersion":"42"},
///     "spec":{"containers":[{"name":"c","image":"nginx"}]},"status":{"phase":"Running"}}"#;
/// let pod: PartialObjectMeta<Pod> = serde_json::from_str(json)?;
/// assert_eq!(pod.metadata.resource_version.as_deref(), Some("42"));
/// assert_eq!(PartialObjectMeta::<Pod>::api_resource(&()).plural, "pods");
/// # Ok::<(), serde_json::Error>(())
/// ```
pub struct PartialObjectMeta<K> {
    /// The object's metadata.
    pub metadata: ObjectMeta,
    kind: PhantomData<fn() -> K>,
}

impl<K> PartialObjectMeta<K> {
    /// A partial object with this metadata.
    pub fn new(metadata: ObjectMeta) -> Self {
        Self {
            metadata,
            kind: PhantomData,
        }
    }
}

impl<K> Clone for PartialObjectMeta<K> {
    fn clone(&self) -> Self {
        Self::new(self.metadata.clone())
    }
}

impl<K> Default for PartialObjectMeta<K> {
    fn default() -> Self {
        Self::new(ObjectMeta::default())
    }
}

impl<K> PartialEq for PartialObjectMeta<K> {
    fn eq(&self, other: &Self) -> bool {
        self.metadata == other.metadata
    }
}

impl<K> fmt::Debug for PartialObjectMeta<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartialObjectMeta")
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl<K: Resource> Resource for PartialObjectMeta<K> {
    type DynamicType = K::DynamicType;

    fn api_resource(dt: &Self::DynamicType) -> Cow<'_, ApiResource> {
        K::api_resource(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    /// Metadata only (`PartialObjectMetadata`, or `PartialObjectMetadataList` for a
    /// list), else the kind's JSON: either decodes as this type.
    fn accept(list: bool) -> &'static str {
        if list {
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
        } else {
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
        }
    }
}

impl<'de, K> Deserialize<'de> for PartialObjectMeta<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<K>(PhantomData<fn() -> K>);

        impl<'de, K> Visitor<'de> for Fields<K> {
            type Value = PartialObjectMeta<K>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut metadata: Option<ObjectMeta> = None;
                while let Some(key) = map.next_key::<Field>()? {
                    if key == Field::Metadata {
                        if metadata.is_some() {
                            return Err(de::Error::duplicate_field("metadata"));
                        }
                        metadata = Some(map.next_value()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(PartialObjectMeta::new(metadata.unwrap_or_default()))
            }
        }

        deserializer.deserialize_map(Fields(PhantomData))
    }
}

/// A key of the object: `metadata`, or one to skip (read without allocating).
#[derive(PartialEq, Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Metadata,
    #[serde(other)]
    Other,
}

impl<K: Resource<DynamicType = ()>> Serialize for PartialObjectMeta<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let resource = K::api_resource(&());
        let mut s = serializer.serialize_struct("PartialObjectMeta", 3)?;
        s.serialize_field("apiVersion", &resource.api_version())?;
        s.serialize_field("kind", &resource.kind)?;
        s.serialize_field("metadata", &self.metadata)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Pod, ResourceExt};

    #[test]
    fn reads_the_metadata_and_skips_the_rest() {
        let json = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"},
                         "resourceVersion": "7"},
            "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        });
        let full: Pod = serde_json::from_value(json.clone()).unwrap();
        let partial: PartialObjectMeta<Pod> = serde_json::from_value(json).unwrap();
        assert_eq!(partial.metadata, full.metadata);
        assert_eq!(partial.name_any(), "p");
        assert_eq!(partial.resource_version(), Some("7"));
    }

    #[test]
    fn an_object_without_metadata_reads_as_empty_and_a_non_object_is_an_error() {
        let partial: PartialObjectMeta<Pod> = serde_json::from_str(r#"{"kind":"Pod"}"#).unwrap();
        assert_eq!(partial.metadata, ObjectMeta::default());
        assert!(serde_json::from_str::<PartialObjectMeta<Pod>>("[1]").is_err());
        assert!(
            serde_json::from_str::<PartialObjectMeta<Pod>>(r#"{"metadata":{"name":1}}"#).is_err()
        );
        assert!(
            serde_json::from_str::<PartialObjectMeta<Pod>>(r#"{"metadata":{},"metadata":{}}"#)
                .is_err()
        );
    }

    #[test]
    fn is_served_at_its_kinds_path_and_writes_type_and_metadata() {
        assert_eq!(
            PartialObjectMeta::<Pod>::api_resource(&()),
            Pod::api_resource(&())
        );
        let mut partial = PartialObjectMeta::<Pod>::default();
        partial.metadata.name = Some("p".into());
        let v = serde_json::to_value(&partial).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
        );
    }
}
