//! [`DynamicObject`]: an object of a kind known only at run time.
//!
//! Custom resources, kinds a client was not compiled with, and every object the API server
//! handles generically (storage, watch fan-out, field selection, patches) travel as a
//! `DynamicObject`: its metadata is typed, everything else is kept as JSON, untouched.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::meta::{ObjectMeta, TypeMeta};
use crate::resource::{ApiResource, Resource, StaticResource};

/// An object whose kind is known only at run time: typed metadata, and every other field
/// kept as JSON.
///
/// Decoding then encoding gives back the same JSON value: `apiVersion` and `kind` go to
/// [`types`](Self::types), `metadata` to [`metadata`](Self::metadata), and every other
/// top-level field, whatever its shape, to [`data`](Self::data). (Metadata fields that
/// [`ObjectMeta`] does not model, such as `managedFields`, and an empty `apiVersion` or
/// `kind` are not kept.)
///
/// This is also what the API server uses for generic handling: the registry, the watch
/// cache and admission see every kind, built-in or custom, as a `DynamicObject` together
/// with the [`ApiResource`] it is served as.
///
/// ```
/// use kube_core::{ApiResource, DynamicObject, ResourceExt};
///
/// let fleets = ApiResource::new("games.example.com", "v1", "Fleet", "fleets", true);
/// let mut fleet = DynamicObject::new("blue", &fleets);
/// fleet.data["spec"] = serde_json::json!({ "replicas": 3 });
/// assert_eq!(fleet.name_any(), "blue");
/// assert_eq!(
///     serde_json::to_string(&fleet).unwrap(),
///     r#"{"apiVersion":"games.example.com/v1","kind":"Fleet","metadata":{"name":"blue"},"spec":{"replicas":3}}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DynamicObject {
    /// `apiVersion` and `kind`, when the object carries them.
    #[serde(flatten, default)]
    pub types: Option<TypeMeta>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Every other top-level field (`spec`, `status`, `data`, ...), as a JSON object.
    #[serde(flatten)]
    pub data: serde_json::Value,
}

impl Default for DynamicObject {
    fn default() -> Self {
        Self {
            types: None,
            metadata: ObjectMeta::default(),
            data: serde_json::Value::Object(serde_json::Map::new()),
        }
    }
}

/// Why a [`DynamicObject`] could not be converted to or from a typed kind.
#[derive(Debug, thiserror::Error)]
pub enum DynamicObjectError {
    /// The object is of another kind than the type asked for.
    #[error("expected {expected_api_version} {expected_kind}, found {api_version} {kind}")]
    WrongKind {
        /// The API version of the type asked for.
        expected_api_version: String,
        /// The kind of the type asked for.
        expected_kind: String,
        /// The object's API version.
        api_version: String,
        /// The object's kind.
        kind: String,
    },
    /// A field does not decode as the typed kind needs; `path` says which
    /// (`spec.replicas`, `spec.containers[0].ports`).
    #[error("invalid value at {path}: {source}")]
    Field {
        /// The path of the field that failed, dot-separated, or `.` for the whole object.
        path: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The object could not be encoded as JSON.
    #[error("cannot encode the object: {0}")]
    Encode(#[source] serde_json::Error),
}

impl DynamicObject {
    /// A new, empty object named `name` of the kind `resource` describes.
    pub fn new(name: impl Into<String>, resource: &ApiResource) -> Self {
        Self {
            types: Some(TypeMeta::new(
                resource.api_version(),
                resource.kind.as_ref(),
            )),
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            data: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the namespace.
    #[must_use]
    pub fn within(mut self, namespace: impl Into<String>) -> Self {
        self.metadata.namespace = Some(namespace.into());
        self
    }

    /// Replaces the data: the top-level fields other than `apiVersion`, `kind` and
    /// `metadata`.
    #[must_use]
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }

    /// The `apiVersion`, if the object carries one.
    pub fn api_version(&self) -> Option<&str> {
        self.types
            .as_ref()
            .map(|t| t.api_version.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The `kind`, if the object carries one.
    pub fn kind(&self) -> Option<&str> {
        self.types
            .as_ref()
            .map(|t| t.kind.as_str())
            .filter(|k| !k.is_empty())
    }

    /// Converts to the typed kind `K`.
    ///
    /// An `apiVersion` or `kind` other than `K`'s is an error (missing ones are not); so is
    /// any field that does not decode, and the error names it.
    pub fn try_parse<K: StaticResource + DeserializeOwned>(&self) -> Result<K, DynamicObjectError> {
        let expected = K::API_RESOURCE;
        let expected_api_version = expected.api_version();
        let api_version = self.api_version().unwrap_or(&expected_api_version);
        let kind = self.kind().unwrap_or(&expected.kind);
        if api_version != expected_api_version || kind != expected.kind {
            return Err(DynamicObjectError::WrongKind {
                expected_kind: expected.kind.to_string(),
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                expected_api_version,
            });
        }
        let value = serde_json::to_value(self).map_err(DynamicObjectError::Encode)?;
        serde_path_to_error::deserialize(value).map_err(|e| DynamicObjectError::Field {
            path: e.path().to_string(),
            source: e.into_inner(),
        })
    }

    /// Converts a typed object, keeping every field it encodes.
    pub fn from_typed<K: StaticResource + Serialize>(obj: &K) -> Result<Self, DynamicObjectError> {
        let value = serde_json::to_value(obj).map_err(DynamicObjectError::Encode)?;
        serde_json::from_value(value).map_err(|source| DynamicObjectError::Field {
            path: ".".to_owned(),
            source,
        })
    }
}

impl Resource for DynamicObject {
    type DynamicType = ApiResource;

    fn api_resource(dt: &ApiResource) -> Cow<'_, ApiResource> {
        Cow::Borrowed(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::coordination_v1::Lease;
    use crate::resource::ResourceExt;

    #[test]
    fn keeps_every_top_level_field() {
        let input = json!({
            "apiVersion": "games.example.com/v1",
            "kind": "Fleet",
            "metadata": {"name": "blue", "namespace": "games", "labels": {"a": "b"}},
            "spec": {"replicas": 3, "template": {"x": [1, 2.5, null, true]}},
            "status": {},
            "extra": "kept"
        });
        let obj: DynamicObject = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(obj.api_version(), Some("games.example.com/v1"));
        assert_eq!(obj.kind(), Some("Fleet"));
        assert_eq!(obj.namespace(), Some("games"));
        assert_eq!(obj.data["spec"]["replicas"], 3);
        assert!(obj.data.get("metadata").is_none() && obj.data.get("kind").is_none());
        assert_eq!(serde_json::to_value(&obj).unwrap(), input);
    }

    #[test]
    fn parses_to_typed_kinds_and_back() {
        let input = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "leader", "namespace": "kube-system"},
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}
        });
        let obj: DynamicObject = serde_json::from_value(input.clone()).unwrap();
        let lease: Lease = obj.try_parse().unwrap();
        assert_eq!(lease.spec.holder_identity.as_deref(), Some("a"));
        let back = DynamicObject::from_typed(&lease).unwrap();
        assert_eq!(back, obj);
        assert_eq!(serde_json::to_value(&back).unwrap(), input);
    }

    #[test]
    fn parse_errors_name_the_field() {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "leader"},
            "spec": {"leaseDurationSeconds": "fifteen"}
        }))
        .unwrap();
        let err = obj.try_parse::<Lease>().unwrap_err();
        match &err {
            DynamicObjectError::Field { path, .. } => {
                assert_eq!(path, "spec.leaseDurationSeconds");
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(
            err.to_string().contains("spec.leaseDurationSeconds"),
            "{err}"
        );
    }

    #[test]
    fn parse_rejects_other_kinds() {
        let fleets = ApiResource::new("games.example.com", "v1", "Fleet", "fleets", true);
        let err = DynamicObject::new("blue", &fleets)
            .try_parse::<Lease>()
            .unwrap_err();
        assert!(
            matches!(&err, DynamicObjectError::WrongKind { kind, .. } if kind == "Fleet"),
            "{err:?}"
        );
        // Without apiVersion and kind the object is taken to be of the asked-for kind.
        let bare = DynamicObject::default().with_data(json!({"spec": {"holderIdentity": "b"}}));
        let lease: Lease = bare.try_parse().unwrap();
        assert_eq!(lease.spec.holder_identity.as_deref(), Some("b"));
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            (-1.0e12..1.0e12f64).prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map(".{0,8}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn metadata() -> impl Strategy<Value = serde_json::Value> {
        let labels = prop::collection::btree_map("[a-z./-]{1,12}", "[a-zA-Z0-9_.-]{0,10}", 0..4);
        (
            "[a-z0-9-]{1,20}",
            prop::option::of("[a-z0-9-]{1,12}"),
            labels.clone(),
            labels,
            prop::option::of(1i64..1_000_000),
            prop::option::of(0i64..4_000_000_000),
            prop::collection::vec("[a-z./-]{1,16}", 0..3),
        )
            .prop_map(|(name, ns, labels, annotations, rv, secs, finalizers)| {
                let mut m = serde_json::Map::new();
                m.insert("name".into(), name.into());
                if let Some(ns) = ns {
                    m.insert("namespace".into(), ns.into());
                }
                if let Some(rv) = rv {
                    m.insert("resourceVersion".into(), rv.to_string().into());
                    m.insert("uid".into(), format!("uid-{rv}").into());
                    m.insert("generation".into(), rv.into());
                }
                if let Some(secs) = secs {
                    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap();
                    m.insert(
                        "creationTimestamp".into(),
                        crate::Time(t).to_string().into(),
                    );
                }
                if !labels.is_empty() {
                    m.insert("labels".into(), json!(labels));
                }
                if !annotations.is_empty() {
                    m.insert("annotations".into(), json!(annotations));
                }
                if !finalizers.is_empty() {
                    m.insert("finalizers".into(), json!(finalizers));
                }
                serde_json::Value::Object(m)
            })
    }

    fn object() -> impl Strategy<Value = serde_json::Value> {
        (
            prop::option::of(("[a-z.]{0,12}/v[0-9]", "[A-Z][a-zA-Z]{0,10}")),
            metadata(),
            prop::collection::btree_map(".{1,10}", json_value(), 0..6),
        )
            .prop_map(|(types, metadata, fields)| {
                let mut m: serde_json::Map<String, serde_json::Value> = fields
                    .into_iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                    .collect();
                if let Some((api_version, kind)) = types {
                    m.insert("apiVersion".into(), api_version.into());
                    m.insert("kind".into(), kind.into());
                }
                m.insert("metadata".into(), metadata);
                serde_json::Value::Object(m)
            })
    }

    proptest! {
        #[test]
        fn decode_then_encode_gives_the_same_json(input in object()) {
            let obj: DynamicObject = serde_json::from_value(input.clone()).unwrap();
            prop_assert_eq!(serde_json::to_value(&obj).unwrap(), input);
            // And through text, as the wire carries it.
            let text = serde_json::to_string(&obj).unwrap();
            let again: DynamicObject = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(again, obj);
        }
    }

    #[test]
    fn uses_its_api_resource() {
        let fleets = ApiResource::new("games.example.com", "v1", "Fleet", "fleets", true);
        let obj = DynamicObject::new("blue", &fleets).within("games");
        assert_eq!(
            DynamicObject::api_resource(&fleets).object_path(obj.namespace(), obj.name_any()),
            "/apis/games.example.com/v1/namespaces/games/fleets/blue"
        );
        let owner = obj.controller_owner_ref(&fleets);
        assert_eq!(owner, None, "no uid yet");
    }
}
