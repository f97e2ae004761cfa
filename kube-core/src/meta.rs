//! Object metadata: `TypeMeta`, `ObjectMeta`, `ListMeta` and owner references, as in
//! Kubernetes' `meta/v1`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::time::Time;

/// The `apiVersion` and `kind` that every serialized object carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta {
    /// `group/version`, or just the version for the core group (`"v1"`, `"apps/v1"`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The kind, in CamelCase (`"Pod"`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
}

impl TypeMeta {
    /// A `TypeMeta` from an API version and a kind.
    pub fn new(api_version: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            api_version: api_version.into(),
            kind: kind.into(),
        }
    }
}

/// Metadata that every persisted object has (`metav1.ObjectMeta`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Unique within a namespace (or the cluster, for cluster-scoped kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A prefix from which the server generates a unique name when `name` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    /// The namespace of a namespaced object; empty for cluster-scoped ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Set by the server on creation; unique in time and space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Opaque version of this object for optimistic concurrency and watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// A sequence number of the desired state, bumped by the server on spec changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// When the server created the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    /// When graceful deletion was requested; the object goes once finalizers are clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Time>,
    /// Seconds allowed for graceful termination once deletion was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// Identifying key/value pairs, matched by label selectors.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub labels: BTreeMap<String, String>,
    /// Non-identifying key/value pairs for tools and extensions.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub annotations: BTreeMap<String, String>,
    /// The objects this object depends on; the garbage collector follows these.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub owner_references: Vec<OwnerReference>,
    /// Names of the finalizers that must be cleared before the object is removed.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub finalizers: Vec<String>,
}

/// A reference from a dependent object to its owner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// The owner's API version.
    pub api_version: String,
    /// The owner's kind.
    pub kind: String,
    /// The owner's name (same namespace as the dependent).
    pub name: String,
    /// The owner's uid.
    pub uid: String,
    /// True when the owner is the managing controller; at most one reference may say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// True when foreground deletion of the owner waits for this dependent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// Metadata of a list response (`metav1.ListMeta`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    /// The revision at which the list was read; watch from here to follow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// The token to fetch the next page, when the list was cut by a limit.
    #[serde(rename = "continue", default, skip_serializing_if = "Option::is_none")]
    pub continue_: Option<String>,
    /// How many items remain after this page, when the server knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_item_count: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_style_metadata_decodes() {
        let m: ObjectMeta = serde_json::from_str(
            r#"{"name":"web","creationTimestamp":null,"labels":{"app":"web"},"managedFields":[]}"#,
        )
        .unwrap();
        assert_eq!(m.name.as_deref(), Some("web"));
        assert_eq!(m.creation_timestamp, None);
        assert_eq!(m.labels["app"], "web");
    }

    #[test]
    fn empty_fields_are_omitted() {
        let m = ObjectMeta {
            name: Some("a".into()),
            ..Default::default()
        };
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"name":"a"}"#);
        let l = ListMeta {
            continue_: Some("t".into()),
            ..Default::default()
        };
        assert_eq!(serde_json::to_string(&l).unwrap(), r#"{"continue":"t"}"#);
    }
}
