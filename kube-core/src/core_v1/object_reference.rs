//! [`ObjectReference`]: a pointer to another object, as Events and Endpoints carry it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::resource::Resource;

/// A reference to an object, or to a field within it (`v1.ObjectReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// The referent's kind (`"Pod"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The referent's namespace, for namespaced kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The referent's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The referent's uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The referent's API version (`"v1"`, `"apps/v1"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The resourceVersion of the referent this reference was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// A field within the referent, such as `spec.containers{web}` for one container of a
    /// pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
}

impl ObjectReference {
    /// A reference to `obj`, with its kind, API version, namespace, name, uid and
    /// resourceVersion.
    pub fn from_object<K: Resource>(obj: &K, dt: &K::DynamicType) -> Self {
        let ar = K::api_resource(dt);
        let meta = obj.meta();
        Self {
            kind: Some(ar.kind.to_string()),
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
            uid: meta.uid.clone(),
            api_version: Some(ar.api_version()),
            resource_version: meta.resource_version.clone(),
            field_path: None,
        }
    }
}
