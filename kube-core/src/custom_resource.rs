//! Custom resources: the `apiextensions.k8s.io/v1` [`CustomResourceDefinition`] kind, and
//! [`CustomResourceExt`], which derives one from a Rust type.
//!
//! A CRD decodes from what `kubectl apply -f crd.yaml` sends; its
//! [`api_resources`](CustomResourceDefinition::api_resources) tell how the API serves
//! the custom kind, one [`ApiResource`] per served version, and objects of that kind travel
//! as [`DynamicObject`](crate::DynamicObject)s.
//!
//! A Rust type that implements [`StaticResource`] and [`JsonSchema`] gets its CRD from
//! [`CustomResourceExt::crd`], with an OpenAPI v3 schema that Kubernetes accepts as
//! structural: every subschema inlined, no `$ref`, `definitions` or `$schema`, a type on
//! every node, and only what Kubernetes allows at `metadata`.
//!
//! ```
//! use kube_core::{CustomResourceExt, ObjectMeta, impl_resource};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// A game server fleet.
//! #[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
//! #[serde(rename_all = "camelCase")]
//! pub struct Fleet {
//!     /// Standard metadata.
//!     #[serde(default)]
//!     pub metadata: ObjectMeta,
//!     /// How many servers.
//!     #[serde(default)]
//!     pub replicas: Option<i32>,
//! }
//!
//! impl_resource!(Fleet {
//!     group: "games.example.com", version: "v1", kind: "Fleet", plural: "fleets",
//!     namespaced: true, short_names: ["fl"], categories: [],
//!     fields: { metadata: "metadata" }, omit_empty: { replicas: "replicas" }
//! });
//!
//! impl CustomResourceExt for Fleet {}
//!
//! let crd = Fleet::crd();
//! assert_eq!(crd.metadata.name.as_deref(), Some("fleets.games.example.com"));
//! let schema = crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap();
//! assert_eq!(schema["properties"]["replicas"]["type"], "integer");
//! assert_eq!(crd.api_resources()[0].kind, "Fleet");
//! ```

use std::borrow::Cow;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core_v1::{ByteString, ConditionStatus};
use crate::meta::ObjectMeta;
use crate::resource::{ApiResource, StaticResource};
use crate::time::Time;

/// The definition of a custom kind: its group, names, scope and versions with their
/// schemas (`apiextensions.k8s.io/v1`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceDefinition {
    /// Standard object metadata; the name must be `<plural>.<group>`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the custom kind is and how it is served.
    #[serde(default)]
    pub spec: CustomResourceDefinitionSpec,
    /// Whether the definition is established, and the names it was given.
    #[serde(default)]
    pub status: CustomResourceDefinitionStatus,
}

crate::impl_resource!(CustomResourceDefinition {
    group: "apiextensions.k8s.io", version: "v1", kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions", namespaced: false,
    short_names: ["crd", "crds"], categories: ["api-extensions"],
    fields: { metadata: "metadata", spec: "spec", status: "status" }
});

impl CustomResourceDefinition {
    /// How the API serves the custom kind: one [`ApiResource`] per served version, in the
    /// order of `spec.versions`.
    pub fn api_resources(&self) -> Vec<ApiResource> {
        let spec = &self.spec;
        let names = |list: &[String]| -> Cow<'static, [Cow<'static, str>]> {
            Cow::Owned(list.iter().map(|s| Cow::Owned(s.clone())).collect())
        };
        spec.versions
            .iter()
            .filter(|v| v.served)
            .map(|v| ApiResource {
                group: Cow::Owned(spec.group.clone()),
                version: Cow::Owned(v.name.clone()),
                kind: Cow::Owned(spec.names.kind.clone()),
                plural: Cow::Owned(spec.names.plural.clone()),
                namespaced: spec.scope == ResourceScope::Namespaced,
                short_names: names(&spec.names.short_names),
                categories: names(&spec.names.categories),
            })
            .collect()
    }

    /// The version objects are stored as: the one marked `storage`.
    pub fn storage_version(&self) -> Option<&CustomResourceDefinitionVersion> {
        self.spec.versions.iter().find(|v| v.storage)
    }
}

/// What a custom kind is and how it is served.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceDefinitionSpec {
    /// The API group (`"games.example.com"`).
    #[serde(default)]
    pub group: String,
    /// The names of the resource and its kind.
    #[serde(default)]
    pub names: CustomResourceDefinitionNames,
    /// Whether objects live in a namespace or across the cluster.
    #[serde(default)]
    pub scope: ResourceScope,
    /// The versions served, each with its schema; exactly one is the storage version.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub versions: Vec<CustomResourceDefinitionVersion>,
    /// How objects are converted between versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion: Option<CustomResourceConversion>,
    /// Keep fields the schema does not describe (a legacy of v1beta1; must be false in v1).
    #[serde(default, skip_serializing_if = "crate::wire::is_false")]
    pub preserve_unknown_fields: bool,
}

/// The names of a custom resource and its kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceDefinitionNames {
    /// The plural resource name used in URLs (`"fleets"`).
    #[serde(default)]
    pub plural: String,
    /// The singular name (`"fleet"`); the lower-cased kind when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub singular: Option<String>,
    /// Short names for kubectl (`["fl"]`).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub short_names: Vec<String>,
    /// The kind, in CamelCase (`"Fleet"`).
    #[serde(default)]
    pub kind: String,
    /// The kind of lists (`"FleetList"`); the kind followed by `List` when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_kind: Option<String>,
    /// Groups of resources for `kubectl get <category>` (`["all"]`).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub categories: Vec<String>,
}

/// Whether a custom kind's objects live in a namespace or across the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ResourceScope {
    /// Objects live in a namespace.
    #[default]
    Namespaced,
    /// Objects live across the cluster.
    Cluster,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// One version of a custom kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceDefinitionVersion {
    /// The version name (`"v1"`, `"v1beta1"`).
    #[serde(default)]
    pub name: String,
    /// Whether the API serves this version.
    #[serde(default)]
    pub served: bool,
    /// Whether objects are stored in this version; exactly one version is.
    #[serde(default)]
    pub storage: bool,
    /// Whether the version is deprecated; requests to it get a warning.
    #[serde(default, skip_serializing_if = "crate::wire::is_false")]
    pub deprecated: bool,
    /// The warning returned to requests to a deprecated version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation_warning: Option<String>,
    /// The schema objects of this version are validated and pruned with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<CustomResourceValidation>,
    /// The `status` and `scale` subresources, when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresources: Option<CustomResourceSubresources>,
    /// Extra columns for `kubectl get`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub additional_printer_columns: Vec<CustomResourceColumnDefinition>,
    /// Fields that field selectors may use, besides `metadata.name` and
    /// `metadata.namespace`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub selectable_fields: Vec<SelectableField>,
}

/// The schema of a version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceValidation {
    /// The OpenAPI v3 schema of the objects, as JSON; it must be structural.
    #[serde(
        rename = "openAPIV3Schema",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub open_api_v3_schema: Option<Value>,
}

/// The subresources a version serves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceSubresources {
    /// When set, `status` is a subresource: writes to the object ignore it, and writes to
    /// `/status` change only it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CustomResourceSubresourceStatus>,
    /// When set, the `/scale` subresource maps to these replica fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<CustomResourceSubresourceScale>,
}

/// Enables the `status` subresource; it has no settings (`status: {}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct CustomResourceSubresourceStatus {}

/// Where the `/scale` subresource finds the replica counts and the selector.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceSubresourceScale {
    /// JSON path of the desired replicas (`.spec.replicas`).
    #[serde(default)]
    pub spec_replicas_path: String,
    /// JSON path of the observed replicas (`.status.replicas`).
    #[serde(default)]
    pub status_replicas_path: String,
    /// JSON path of the label selector, as a string, for autoscalers
    /// (`.status.labelSelector`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector_path: Option<String>,
}

/// An extra column of `kubectl get` output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceColumnDefinition {
    /// The column header.
    #[serde(default)]
    pub name: String,
    /// The OpenAPI type of the values (`string`, `integer`, `number`, `boolean`, `date`).
    #[serde(rename = "type", default)]
    pub type_: String,
    /// An optional OpenAPI format (`int32`, `date-time`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// A description of the column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// 0 for columns shown by default, higher for those shown only with `-o wide`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// The simple JSON path of the value in each object (`.spec.replicas`).
    #[serde(default)]
    pub json_path: String,
}

/// A field that field selectors may use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelectableField {
    /// The simple JSON path of the field (`.spec.color`).
    #[serde(default)]
    pub json_path: String,
}

/// How objects are converted between the versions of a custom kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceConversion {
    /// `None` (only `apiVersion` changes) or `Webhook`.
    #[serde(default)]
    pub strategy: ConversionStrategy,
    /// The webhook to call, for the `Webhook` strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookConversion>,
}

/// The conversion strategy of a custom kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConversionStrategy {
    /// Only `apiVersion` changes; the fields are kept as they are.
    #[default]
    None,
    /// A webhook converts the objects.
    Webhook,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// The conversion webhook of a custom kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookConversion {
    /// How to reach the webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_config: Option<WebhookClientConfig>,
    /// The `ConversionReview` versions the webhook accepts, in order of preference.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub conversion_review_versions: Vec<String>,
}

/// How to reach a webhook: a URL or an in-cluster service, and the CA to trust.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookClientConfig {
    /// The webhook's URL (`https://host:port/path`), for webhooks outside the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The in-cluster service of the webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceReference>,
    /// PEM-encoded CA bundle to verify the webhook's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "caBundle")]
    pub ca_bundle: Option<ByteString>,
}

/// A reference to the service of a webhook.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceReference {
    /// The service's namespace.
    #[serde(default)]
    pub namespace: String,
    /// The service's name.
    #[serde(default)]
    pub name: String,
    /// The URL path requests are sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The service port; 443 when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

/// Whether a definition is established, and the names it was given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceDefinitionStatus {
    /// The latest observations of the definition's state (`Established`,
    /// `NamesAccepted`, ...).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub conditions: Vec<CustomResourceDefinitionCondition>,
    /// The names actually served; they may differ from the spec's on conflicts.
    #[serde(default)]
    pub accepted_names: CustomResourceDefinitionNames,
    /// Every version objects were ever stored as; old ones can be removed once no object
    /// is stored in them any more.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub stored_versions: Vec<String>,
}

impl CustomResourceDefinitionStatus {
    /// True once the `Established` condition is `True`: the API serves the kind.
    pub fn is_established(&self) -> bool {
        self.conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == ConditionStatus::True)
    }
}

/// One observation of a definition's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceDefinitionCondition {
    /// `Established`, `NamesAccepted`, `NonStructuralSchema`, `Terminating` or
    /// `KubernetesAPIApprovalPolicyConformant`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: ConditionStatus,
    /// When the condition last changed status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A machine-readable, UpperCamelCase reason for the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable message about the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Derives the [`CustomResourceDefinition`] of a Rust type that is a [`StaticResource`]
/// and a [`JsonSchema`].
///
/// Implement it with an empty `impl CustomResourceExt for MyKind {}`; the provided
/// methods do the rest.
pub trait CustomResourceExt: StaticResource + JsonSchema {
    /// The definition: names, scope and short names from [`StaticResource::API_RESOURCE`],
    /// one served storage version with the type's structural OpenAPI v3 schema, and the
    /// `status` subresource when the type has a `status` field.
    fn crd() -> CustomResourceDefinition {
        let ar = Self::API_RESOURCE;
        let schema = structural_schema::<Self>();
        let has_status = schema
            .get("properties")
            .and_then(|p| p.get("status"))
            .is_some();
        let strings = |list: &[Cow<'static, str>]| list.iter().map(|s| s.to_string()).collect();
        let names = CustomResourceDefinitionNames {
            plural: ar.plural.to_string(),
            singular: Some(ar.singular()),
            short_names: strings(&ar.short_names),
            kind: ar.kind.to_string(),
            list_kind: Some(format!("{}List", ar.kind)),
            categories: strings(&ar.categories),
        };
        CustomResourceDefinition {
            metadata: ObjectMeta {
                name: Some(Self::crd_name()),
                ..ObjectMeta::default()
            },
            spec: CustomResourceDefinitionSpec {
                group: ar.group.to_string(),
                names,
                scope: if ar.namespaced {
                    ResourceScope::Namespaced
                } else {
                    ResourceScope::Cluster
                },
                versions: vec![CustomResourceDefinitionVersion {
                    name: ar.version.to_string(),
                    served: true,
                    storage: true,
                    schema: Some(CustomResourceValidation {
                        open_api_v3_schema: Some(schema),
                    }),
                    subresources: has_status.then_some(CustomResourceSubresources {
                        status: Some(CustomResourceSubresourceStatus {}),
                        scale: None,
                    }),
                    ..CustomResourceDefinitionVersion::default()
                }],
                conversion: None,
                preserve_unknown_fields: false,
            },
            status: CustomResourceDefinitionStatus::default(),
        }
    }

    /// The definition's name: `<plural>.<group>`.
    fn crd_name() -> String {
        let ar = Self::API_RESOURCE;
        format!("{}.{}", ar.plural, ar.group)
    }
}

/// The OpenAPI v3 schema of `K`, rewritten into a Kubernetes structural schema.
///
/// Kubernetes accepts a CRD schema only if it is structural: every node has a `type` (or
/// says `x-kubernetes-int-or-string` or `x-kubernetes-preserve-unknown-fields`), no `$ref`,
/// no `allOf`/`anyOf`/`oneOf` that declare types or fields of their own, and nothing under
/// the root `metadata` but its type. schemars writes JSON Schema 2020-12; this function
/// inlines every definition and rewrites the rest:
///
/// - the root `metadata` becomes `{"type": "object"}` (the API server knows its fields);
///   an `ObjectMeta` elsewhere (an embedded template) becomes an object that keeps unknown
///   fields, since an object schema without properties would prune them all;
/// - `Option<T>` (`"type": [T, "null"]`, or `anyOf` with a null branch) becomes
///   `nullable: true`;
/// - `const` becomes a one-value `enum`; unions of strings (such as an enum with an
///   `Other(String)` fallback) become one string type; unions of objects (tagged enums)
///   have their properties hoisted, keeping only `required` in the branches;
/// - what has no structural form (a recursive type, a union of different types, free JSON)
///   keeps unknown fields;
/// - integer formats Kubernetes does not know (`uint32`, `int8`, ...) become `int32` or
///   `int64`, and `uniqueItems` of scalar lists becomes `x-kubernetes-list-type: set`.
pub fn structural_schema<K: JsonSchema + ?Sized>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.meta_schema = None;
            s.inline_subschemas = false;
            s.definitions_path = "/$defs".into();
        })
        .into_generator();
    let mut root = generator.into_root_schema_for::<K>().to_value();
    let defs = match root.as_object_mut().and_then(|o| o.remove("$defs")) {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    let inliner = Inliner {
        defs: &defs,
        object_meta: ObjectMeta::schema_name(),
    };
    inliner.inline(&mut root, &mut Vec::new());
    make_structural(&mut root);
    if let Value::Object(obj) = &mut root {
        obj.insert("type".into(), "object".into());
        if let Some(Value::Object(props)) = obj.get_mut("properties") {
            if props.contains_key("metadata") {
                props.insert("metadata".into(), serde_json::json!({ "type": "object" }));
            }
        }
    }
    root
}

/// Replaces every `$ref` with the definition it names.
struct Inliner<'a> {
    defs: &'a Map<String, Value>,
    object_meta: Cow<'static, str>,
}

impl Inliner<'_> {
    fn inline(&self, node: &mut Value, stack: &mut Vec<String>) {
        if let Value::Bool(true) = node {
            *node = Value::Object(Map::new());
        }
        let Value::Object(obj) = node else {
            return;
        };
        if let Some(Value::String(reference)) = obj.remove("$ref") {
            let name = reference
                .rsplit('/')
                .next()
                .unwrap_or(reference.as_str())
                .to_owned();
            if name == self.object_meta {
                merge_missing(obj, preserve_object());
            } else if stack.contains(&name) {
                // A recursive type: structural schemas cannot express it.
                merge_missing(obj, preserve_unknown());
            } else if let Some(Value::Object(def)) = self.defs.get(&name) {
                let mut def = Value::Object(def.clone());
                stack.push(name);
                self.inline(&mut def, stack);
                stack.pop();
                if let Value::Object(def) = def {
                    merge_missing(obj, def);
                }
                return;
            } else {
                merge_missing(obj, preserve_unknown());
            }
        }
        for child in children_mut(obj) {
            self.inline(child, stack);
        }
    }
}

/// The subschemas of a schema object: properties, items, additional properties and the
/// branches of junctors.
fn children_mut(obj: &mut Map<String, Value>) -> Vec<&mut Value> {
    let mut out = Vec::new();
    for (key, value) in obj.iter_mut() {
        match (key.as_str(), value) {
            ("properties" | "patternProperties", Value::Object(props)) => {
                out.extend(props.values_mut());
            }
            ("items" | "additionalProperties" | "not", v @ (Value::Object(_) | Value::Bool(_))) => {
                out.push(v);
            }
            ("items" | "prefixItems" | "allOf" | "anyOf" | "oneOf", Value::Array(list)) => {
                out.extend(list.iter_mut());
            }
            _ => {}
        }
    }
    out
}

fn preserve_unknown() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
    m
}

fn preserve_object() -> Map<String, Value> {
    let mut m = preserve_unknown();
    m.insert("type".into(), "object".into());
    m
}

/// Adds the keys of `from` that `into` lacks (`into`'s own, such as a field's
/// description, win); `properties` and `required` are merged.
fn merge_missing(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        match (key.as_str(), into.get_mut(&key), value) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                for (k, v) in theirs {
                    mine.entry(k).or_insert(v);
                }
            }
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for v in theirs {
                    if !mine.contains(&v) {
                        mine.push(v);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// Keys Kubernetes' `JSONSchemaProps` does not have, or does not allow.
const UNSUPPORTED_KEYS: &[&str] = &[
    "$schema",
    "$defs",
    "definitions",
    "$id",
    "$anchor",
    "$comment",
    "examples",
    "readOnly",
    "writeOnly",
    "deprecated",
    "contentEncoding",
    "contentMediaType",
    "unevaluatedProperties",
    "unevaluatedItems",
    "prefixItems",
];

const SCALAR_TYPES: &[&str] = &["string", "integer", "number", "boolean"];

fn make_structural(node: &mut Value) {
    if let Value::Bool(b) = node {
        *node = Value::Object(if *b { preserve_unknown() } else { Map::new() });
    }
    let Value::Object(obj) = node else {
        return;
    };
    let had_prefix_items = obj.contains_key("prefixItems");
    for key in UNSUPPORTED_KEYS {
        obj.remove(*key);
    }
    if had_prefix_items {
        // A tuple: Kubernetes lists have one item schema.
        obj.remove("items");
        obj.insert("items".into(), Value::Object(preserve_unknown()));
    }
    if let Some(value) = obj.remove("const") {
        obj.entry("enum").or_insert(Value::Array(vec![value]));
    }
    normalize_type(obj);
    if obj.get("default") == Some(&Value::Null) {
        obj.remove("default");
    }

    for child in children_mut(obj) {
        make_structural(child);
    }

    if let Some(Value::Array(branches)) = obj.remove("allOf") {
        for branch in branches {
            if let Value::Object(branch) = branch {
                merge_missing(obj, branch);
            }
        }
    }
    if obj.get("x-kubernetes-int-or-string") != Some(&Value::Bool(true)) {
        // Take both first: rewriting one may merge in a branch that has the other.
        let unions: Vec<_> = ["anyOf", "oneOf"]
            .into_iter()
            .filter_map(|junctor| obj.remove(junctor).map(|b| (junctor, b)))
            .collect();
        for (junctor, branches) in unions {
            if let Value::Array(branches) = branches {
                rewrite_union(obj, junctor, branches);
            }
        }
    }

    match obj.get("additionalProperties") {
        Some(Value::Bool(false)) => {
            obj.remove("additionalProperties");
        }
        Some(Value::Bool(true)) => {
            obj.remove("additionalProperties");
            obj.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
        }
        Some(_) if obj.contains_key("properties") => {
            // Kubernetes forbids both; keep the extra fields instead.
            obj.remove("additionalProperties");
            obj.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
        }
        _ => {}
    }

    if !obj.contains_key("type")
        && !is_null_branch(obj)
        && !obj.contains_key("x-kubernetes-int-or-string")
        && !obj.contains_key("x-kubernetes-preserve-unknown-fields")
    {
        let inferred = if obj.contains_key("properties") || obj.contains_key("additionalProperties")
        {
            Some("object")
        } else if obj.contains_key("items") {
            Some("array")
        } else {
            enum_type(obj.get("enum"))
        };
        match inferred {
            Some(t) => {
                obj.insert("type".into(), t.into());
            }
            None => {
                obj.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
            }
        }
    }

    if let Some(Value::String(format)) = obj.get("format") {
        let replacement = match format.as_str() {
            "int8" | "int16" | "uint8" | "uint16" => Some("int32"),
            "uint32" | "uint64" | "uint" | "int" | "int128" | "uint128" => Some("int64"),
            _ => None,
        };
        if let Some(r) = replacement {
            obj.insert("format".into(), r.into());
        }
    }

    if obj.remove("uniqueItems") == Some(Value::Bool(true)) {
        let scalar_items = obj
            .get("items")
            .and_then(|i| i.get("type"))
            .and_then(Value::as_str)
            .is_some_and(|t| SCALAR_TYPES.contains(&t));
        if scalar_items {
            obj.entry("x-kubernetes-list-type")
                .or_insert_with(|| "set".into());
        }
    }
}

/// `"type": ["string", "null"]` becomes `"type": "string", "nullable": true`.
fn normalize_type(obj: &mut Map<String, Value>) {
    if obj.get("type").is_some_and(|t| t == "null") {
        obj.remove("type");
        obj.insert("nullable".into(), true.into());
        return;
    }
    let Some(Value::Array(types)) = obj.get("type") else {
        return;
    };
    let nullable = types.iter().any(|t| t == "null");
    let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
    obj.remove("type");
    if nullable {
        obj.insert("nullable".into(), true.into());
    }
    match rest.len() {
        0 => {}
        1 => {
            obj.insert("type".into(), rest.into_iter().next().unwrap_or_default());
        }
        _ => {
            obj.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
        }
    }
}

/// The JSON type shared by every value of an `enum`, if they share one.
fn enum_type(values: Option<&Value>) -> Option<&'static str> {
    let values = values?.as_array()?;
    let type_of = |v: &Value| match v {
        Value::String(_) => Some("string"),
        Value::Bool(_) => Some("boolean"),
        Value::Number(n) if n.is_f64() => Some("number"),
        Value::Number(_) => Some("integer"),
        _ => None,
    };
    let first = type_of(values.first()?)?;
    values
        .iter()
        .all(|v| type_of(v) == Some(first))
        .then_some(first)
}

/// True for a branch that only allows `null` (`{"type": "null"}` once normalised).
fn is_null_branch(branch: &Map<String, Value>) -> bool {
    branch.get("nullable") == Some(&Value::Bool(true))
        && !branch.contains_key("type")
        && !branch.contains_key("x-kubernetes-preserve-unknown-fields")
        && branch
            .get("enum")
            .is_none_or(|e| e.as_array().is_some_and(|a| a.iter().all(Value::is_null)))
}

/// Rewrites `anyOf`/`oneOf` into a structural form (see [`structural_schema`]).
fn rewrite_union(obj: &mut Map<String, Value>, junctor: &str, branches: Vec<Value>) {
    let only_required = |b: &Value| {
        b.as_object()
            .is_some_and(|b| b.keys().all(|k| k == "required"))
    };
    if branches.iter().all(only_required) {
        // Already structural: alternatives of required fields.
        obj.insert(junctor.into(), Value::Array(branches));
        return;
    }
    let mut rest = Vec::new();
    for branch in branches {
        let Value::Object(branch) = branch else {
            // `true` was turned into an object above; `false` allows nothing.
            continue;
        };
        if is_null_branch(&branch) {
            obj.insert("nullable".into(), true.into());
        } else {
            rest.push(branch);
        }
    }
    if rest.len() <= 1 {
        if let Some(only) = rest.pop() {
            merge_missing(obj, only);
        }
        return;
    }
    let types: Vec<Option<&str>> = rest
        .iter()
        .map(|b| b.get("type").and_then(Value::as_str))
        .collect();
    let first = types[0];
    let same_type = types.iter().all(|t| *t == first);
    match first {
        Some(scalar) if same_type && SCALAR_TYPES.contains(&scalar) => {
            // Only keep an enum when every branch is one.
            let mut values = Vec::new();
            let all_enums = rest.iter().all(|b| {
                b.get("enum").and_then(Value::as_array).is_some_and(|vals| {
                    values.extend(vals.iter().cloned());
                    true
                })
            });
            obj.insert("type".into(), scalar.into());
            if all_enums {
                obj.insert("enum".into(), Value::Array(values));
            }
        }
        Some("object") if same_type => {
            let mut required_sets = Vec::new();
            let mut props = match obj.remove("properties") {
                Some(Value::Object(p)) => p,
                _ => Map::new(),
            };
            for mut branch in rest {
                if let Some(Value::Object(theirs)) = branch.remove("properties") {
                    for (k, v) in theirs {
                        props.entry(k).or_insert(v);
                    }
                }
                match branch.remove("required") {
                    Some(Value::Array(req)) if !req.is_empty() => {
                        let mut m = Map::new();
                        m.insert("required".into(), Value::Array(req));
                        required_sets.push(Value::Object(m));
                    }
                    _ => required_sets.push(Value::Null),
                }
            }
            obj.insert("type".into(), "object".into());
            if !props.is_empty() {
                obj.insert("properties".into(), Value::Object(props));
            }
            if required_sets.iter().all(Value::is_object) {
                obj.insert(junctor.into(), Value::Array(required_sets));
            }
        }
        _ => {
            obj.remove("type");
            obj.remove("enum");
            obj.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::core_v1::Protocol;
    use crate::int_or_string::IntOrString;

    /// A game server fleet: the example custom kind.
    #[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    struct Fleet {
        #[serde(default)]
        metadata: ObjectMeta,
        /// The desired fleet.
        #[serde(default)]
        spec: FleetSpec,
        /// The observed fleet.
        #[serde(default)]
        status: FleetStatus,
    }

    crate::impl_resource!(Fleet {
        group: "games.example.com", version: "v1alpha1", kind: "Fleet", plural: "fleets",
        namespaced: true, short_names: ["fl"], categories: ["all", "games"],
        fields: { metadata: "metadata", spec: "spec", status: "status" }
    });

    impl CustomResourceExt for Fleet {}

    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    struct FleetSpec {
        /// How many servers.
        replicas: u32,
        /// The port players connect to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<IntOrString>,
        /// The transport.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<Protocol>,
        /// Maps to show.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        maps: Vec<String>,
        /// Extra settings.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        settings: BTreeMap<String, String>,
        /// How servers are placed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        placement: Option<Placement>,
        /// Free-form data for the game.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        game_data: Option<Value>,
        /// Labels and annotations of every server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template_metadata: Option<ObjectMeta>,
        /// The scaling policy.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<Policy>,
    }

    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    struct Placement {
        /// Spread servers over zones.
        #[serde(default)]
        spread: bool,
        /// At most this many servers per node.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_per_node: Option<u8>,
    }

    /// How a fleet scales.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    enum Policy {
        /// Keep a buffer of ready servers.
        Buffer {
            /// How many.
            size: u32,
        },
        /// Call a webhook.
        Webhook {
            /// Its URL.
            url: String,
        },
    }

    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    struct FleetStatus {
        /// Servers ready.
        #[serde(default)]
        ready_replicas: i32,
        /// When the fleet last scaled.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_scale_time: Option<Time>,
        /// What the fleet is doing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<FleetState>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
    enum FleetState {
        /// Every server is up.
        Ready,
        /// Servers are being added or removed.
        Scaling,
    }

    /// Checks the rules of Kubernetes structural schemas on every node, and returns the
    /// violations with their paths.
    fn structural_violations(node: &Value, path: &str, in_junctor: bool, out: &mut Vec<String>) {
        let Some(obj) = node.as_object() else {
            out.push(format!("{path}: not an object"));
            return;
        };
        for key in [
            "$ref",
            "$schema",
            "$defs",
            "definitions",
            "const",
            "allOf",
            "prefixItems",
        ] {
            if obj.contains_key(key) {
                out.push(format!("{path}: has {key}"));
            }
        }
        let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&json!(true));
        let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
        if in_junctor {
            for key in [
                "type",
                "description",
                "default",
                "additionalProperties",
                "nullable",
            ] {
                if obj.contains_key(key) && !int_or_string {
                    out.push(format!("{path}: sets {key} inside a junctor"));
                }
            }
        } else if !int_or_string && !preserve && !obj.get("type").is_some_and(Value::is_string) {
            out.push(format!("{path}: no type"));
        }
        if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
            out.push(format!("{path}: properties and additionalProperties"));
        }
        if obj.get("uniqueItems") == Some(&json!(true)) {
            out.push(format!("{path}: uniqueItems"));
        }
        for (key, value) in obj {
            match key.as_str() {
                "properties" => {
                    for (name, prop) in value.as_object().into_iter().flatten() {
                        structural_violations(prop, &format!("{path}.{name}"), in_junctor, out);
                    }
                }
                "items" | "additionalProperties" => {
                    structural_violations(value, &format!("{path}[{key}]"), in_junctor, out);
                }
                "anyOf" | "oneOf" if !int_or_string => {
                    for (i, branch) in value.as_array().into_iter().flatten().enumerate() {
                        structural_violations(branch, &format!("{path}<{key}{i}>"), true, out);
                    }
                }
                _ => {}
            }
        }
    }

    fn schema_of(crd: &CustomResourceDefinition) -> Value {
        crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.clone())
            .unwrap()
    }

    #[test]
    fn derived_schemas_are_structural() {
        let schema = schema_of(&Fleet::crd());
        let mut violations = Vec::new();
        structural_violations(&schema, "", false, &mut violations);
        assert!(violations.is_empty(), "{violations:#?}");

        assert_eq!(schema["type"], "object");
        assert_eq!(schema["properties"]["metadata"], json!({"type": "object"}));
        let spec = &schema["properties"]["spec"]["properties"];
        assert_eq!(spec["replicas"]["type"], "integer");
        assert_eq!(spec["replicas"]["format"], "int64");
        assert_eq!(spec["replicas"]["description"], "How many servers.");
        // An enum with an `Other(String)` fallback is any string.
        assert_eq!(spec["protocol"]["type"], "string");
        assert_eq!(spec["protocol"]["nullable"], true);
        assert!(spec["protocol"].get("enum").is_none());
        assert_eq!(spec["port"]["x-kubernetes-int-or-string"], true);
        assert_eq!(spec["maps"]["items"]["type"], "string");
        assert_eq!(spec["settings"]["additionalProperties"]["type"], "string");
        assert_eq!(
            spec["placement"]["properties"]["maxPerNode"]["format"],
            "int32"
        );
        assert_eq!(
            spec["gameData"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(
            spec["templateMetadata"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(spec["templateMetadata"]["type"], "object");
        // A tagged enum: its fields hoisted, one required field per variant.
        assert_eq!(spec["policy"]["type"], "object");
        assert_eq!(
            spec["policy"]["properties"]["buffer"]["properties"]["size"]["type"],
            "integer"
        );
        assert_eq!(
            spec["policy"]["oneOf"],
            json!([{"required": ["buffer"]}, {"required": ["webhook"]}])
        );
        let status = &schema["properties"]["status"]["properties"];
        assert_eq!(status["lastScaleTime"]["format"], "date-time");
        assert_eq!(status["state"]["type"], "string");
        assert_eq!(status["state"]["enum"], json!(["Ready", "Scaling"]));
        assert_eq!(status["state"]["description"], "What the fleet is doing.");
        let text = schema.to_string();
        for banned in ["$ref", "$defs", "$schema", "definitions", "\"const\""] {
            assert!(!text.contains(banned), "{banned} in {text}");
        }
    }

    #[test]
    fn schemas_of_the_built_in_kinds_are_structural() {
        use crate::{
            ClusterRole, ConfigMap, Endpoints, Event, Lease, Namespace, Node, RoleBinding, Secret,
            Service,
        };
        let schemas = [
            ("Node", structural_schema::<Node>()),
            ("Namespace", structural_schema::<Namespace>()),
            ("Service", structural_schema::<Service>()),
            ("Endpoints", structural_schema::<Endpoints>()),
            ("ConfigMap", structural_schema::<ConfigMap>()),
            ("Secret", structural_schema::<Secret>()),
            ("Event", structural_schema::<Event>()),
            ("Lease", structural_schema::<Lease>()),
            ("ClusterRole", structural_schema::<ClusterRole>()),
            ("RoleBinding", structural_schema::<RoleBinding>()),
            (
                "CustomResourceDefinition",
                structural_schema::<CustomResourceDefinition>(),
            ),
        ];
        for (kind, schema) in &schemas {
            let mut violations = Vec::new();
            structural_violations(schema, kind, false, &mut violations);
            assert!(violations.is_empty(), "{violations:#?}");
        }
        let node = &schemas[0].1["properties"];
        let taint = &node["spec"]["properties"]["taints"]["items"]["properties"];
        assert_eq!(taint["effect"]["type"], "string");
        assert_eq!(taint["timeAdded"]["format"], "date-time");
        let secret = &schemas[5].1["properties"];
        assert_eq!(secret["data"]["additionalProperties"]["format"], "byte");
    }

    #[test]
    fn crds_carry_the_names_scope_and_status_subresource() {
        let crd = Fleet::crd();
        assert_eq!(Fleet::crd_name(), "fleets.games.example.com");
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("fleets.games.example.com")
        );
        let names = &crd.spec.names;
        assert_eq!(names.plural, "fleets");
        assert_eq!(names.singular.as_deref(), Some("fleet"));
        assert_eq!(names.kind, "Fleet");
        assert_eq!(names.list_kind.as_deref(), Some("FleetList"));
        assert_eq!(names.short_names, vec!["fl"]);
        assert_eq!(names.categories, vec!["all", "games"]);
        assert_eq!(crd.spec.scope, ResourceScope::Namespaced);
        let version = &crd.spec.versions[0];
        assert_eq!(
            (version.name.as_str(), version.served, version.storage),
            ("v1alpha1", true, true)
        );
        assert_eq!(
            version.subresources.as_ref().and_then(|s| s.status.clone()),
            Some(CustomResourceSubresourceStatus {})
        );

        let encoded = serde_json::to_value(&crd).unwrap();
        assert_eq!(encoded["apiVersion"], "apiextensions.k8s.io/v1");
        assert_eq!(encoded["kind"], "CustomResourceDefinition");
        assert_eq!(
            encoded["spec"]["versions"][0]["subresources"],
            json!({"status": {}})
        );
        let back: CustomResourceDefinition = serde_json::from_value(encoded).unwrap();
        assert_eq!(back, crd);

        let resources = crd.api_resources();
        assert_eq!(resources.len(), 1);
        let ar = &resources[0];
        assert_eq!(ar.api_version(), "games.example.com/v1alpha1");
        assert_eq!(
            ar.collection_path(Some("ns")),
            "/apis/games.example.com/v1alpha1/namespaces/ns/fleets"
        );
        assert_eq!(ar.short_names.as_ref(), ["fl"]);
    }

    /// A kind that holds itself: structural schemas cannot express that.
    #[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
    struct Tree {
        #[serde(default)]
        metadata: ObjectMeta,
        /// The subtrees.
        #[serde(default)]
        children: Vec<Tree>,
        /// A tuple.
        #[serde(default)]
        pair: (u16, String),
        /// Unique tags.
        #[serde(default)]
        tags: std::collections::BTreeSet<String>,
    }

    crate::impl_resource!(Tree {
        group: "example.com", version: "v1", kind: "Tree", plural: "trees",
        namespaced: false, short_names: [], categories: [],
        fields: { metadata: "metadata", children: "children" }
    });

    impl CustomResourceExt for Tree {}

    #[test]
    fn recursive_and_tuple_types_keep_unknown_fields() {
        let crd = Tree::crd();
        assert_eq!(crd.spec.scope, ResourceScope::Cluster);
        assert_eq!(crd.spec.versions[0].subresources, None, "no status field");
        let schema = schema_of(&crd);
        let mut violations = Vec::new();
        structural_violations(&schema, "", false, &mut violations);
        assert!(violations.is_empty(), "{violations:#?}");
        let props = &schema["properties"];
        assert_eq!(props["children"]["type"], "array");
        assert_eq!(
            props["children"]["items"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(props["pair"]["type"], "array");
        assert_eq!(
            props["pair"]["items"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(props["tags"]["x-kubernetes-list-type"], "set");
        assert!(props["tags"].get("uniqueItems").is_none());
    }

    #[test]
    fn api_resources_follow_served_versions() {
        let crd: CustomResourceDefinition = serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "backups.db.example.com"},
            "spec": {
                "group": "db.example.com",
                "names": {"plural": "backups", "kind": "Backup", "shortNames": ["bk"]},
                "scope": "Cluster",
                "versions": [
                    {"name": "v1beta1", "served": false, "storage": false},
                    {"name": "v1", "served": true, "storage": true},
                    {"name": "v2", "served": true, "storage": false}
                ]
            }
        }))
        .unwrap();
        let versions: Vec<_> = crd
            .api_resources()
            .iter()
            .map(|ar| (ar.version.to_string(), ar.namespaced, ar.kind.to_string()))
            .collect();
        assert_eq!(
            versions,
            vec![
                ("v1".to_owned(), false, "Backup".to_owned()),
                ("v2".to_owned(), false, "Backup".to_owned())
            ]
        );
        assert_eq!(crd.storage_version().map(|v| v.name.as_str()), Some("v1"));
        assert!(!crd.status.is_established());
    }
}
