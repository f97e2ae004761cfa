//! `Namespace`: a scope for names, policies and quotas, and its lifecycle (`Active`, then
//! `Terminating` while its content is deleted).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core_v1::ConditionStatus;
use crate::meta::ObjectMeta;
use crate::time::Time;

/// A scope for the names of namespaced objects (`v1.Namespace`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The finalizers that must run before the namespace is removed.
    #[serde(default)]
    pub spec: NamespaceSpec,
    /// The phase and conditions of the namespace.
    #[serde(default)]
    pub status: NamespaceStatus,
}

crate::impl_resource!(Namespace {
    group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false,
    short_names: ["ns"], categories: [],
    fields: { metadata: "metadata", spec: "spec", status: "status" }
});

impl Namespace {
    /// True while the namespace is being deleted: new objects may not be created in it.
    pub fn is_terminating(&self) -> bool {
        self.status.phase == Some(NamespacePhase::Terminating)
            || self.metadata.deletion_timestamp.is_some()
    }
}

/// The finalizers of a [`Namespace`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSpec {
    /// Finalizers that must be removed before the namespace goes (`kubernetes`, which the
    /// namespace controller clears once the namespace is empty).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub finalizers: Vec<String>,
}

/// The observed state of a [`Namespace`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceStatus {
    /// `Active` or `Terminating`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<NamespacePhase>,
    /// The latest observations of the namespace's state, mostly about its deletion.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub conditions: Vec<NamespaceCondition>,
}

/// The lifecycle phase of a [`Namespace`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum NamespacePhase {
    /// In use: objects may be created in it.
    #[default]
    Active,
    /// Being deleted with its content; no new objects may be created in it.
    Terminating,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// One observation of a namespace's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceCondition {
    /// What is observed (`NamespaceDeletionContentFailure`,
    /// `NamespaceContentRemaining`, `NamespaceFinalizersRemaining`, ...).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminating_follows_the_phase_or_the_deletion() {
        let mut ns: Namespace = serde_json::from_str(
            r#"{"metadata":{"name":"a"},"spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}}"#,
        )
        .unwrap();
        assert_eq!(ns.spec.finalizers, vec!["kubernetes"]);
        assert!(!ns.is_terminating());
        ns.status.phase = Some(NamespacePhase::Terminating);
        assert!(ns.is_terminating());
        ns.status.phase = None;
        ns.metadata.deletion_timestamp = Some(Time::parse("2024-05-01T12:00:00Z").unwrap());
        assert!(ns.is_terminating());
    }
}
