//! `ReplicaSet` (apps/v1): keeps a number of identical pods running.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core_v1::{ConditionStatus, PodTemplateSpec};
use crate::meta::ObjectMeta;
use crate::selector::LabelSelector;
use crate::time::Time;

/// Keeps `spec.replicas` pods matching its selector running, creating them from its
/// template (`apps/v1.ReplicaSet`). Usually owned by a Deployment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSet {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: ReplicaSetSpec,
    /// The observed state, written by the ReplicaSet controller.
    #[serde(default)]
    pub status: ReplicaSetStatus,
}

crate::impl_resource!(ReplicaSet {
    group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", namespaced: true,
    short_names: ["rs"], categories: ["all"],
    fields: { metadata: "metadata", spec: "spec", status: "status" }
});

impl ReplicaSet {
    /// The condition of this type, if reported.
    pub fn condition(&self, type_: &ReplicaSetConditionType) -> Option<&ReplicaSetCondition> {
        self.status.conditions.iter().find(|c| c.type_ == *type_)
    }
}

/// The desired state of a ReplicaSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetSpec {
    /// How many pods to run; 1 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Seconds a new pod must be ready, without crashing, to count as available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// The pods this ReplicaSet owns; must match the template's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The pods it creates. Always encoded.
    #[serde(default)]
    pub template: PodTemplateSpec,
}

impl ReplicaSetSpec {
    /// The desired replicas, with Kubernetes' default of 1.
    pub fn replicas_or_default(&self) -> i32 {
        self.replicas.unwrap_or(1)
    }
}

/// The observed state of a ReplicaSet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetStatus {
    /// The number of pods it currently owns (not terminating). Always encoded.
    #[serde(default)]
    pub replicas: i32,
    /// Pods whose labels match the template's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fully_labeled_replicas: Option<i32>,
    /// Pods with a `Ready` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Pods ready for at least `minReadySeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// Pods being deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating_replicas: Option<i32>,
    /// The generation the controller last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The latest observations of the ReplicaSet's state.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub conditions: Vec<ReplicaSetCondition>,
}

/// A condition of a ReplicaSet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetCondition {
    /// What the condition is about.
    #[serde(rename = "type", default)]
    pub type_: ReplicaSetConditionType,
    /// Whether it holds.
    #[serde(default)]
    pub status: ConditionStatus,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A brief CamelCase reason for the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable message about the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The type of a ReplicaSet condition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ReplicaSetConditionType {
    /// A pod could not be created or deleted (quota, admission...).
    #[default]
    ReplicaFailure,
    /// Any other type; kept as written.
    #[serde(untagged)]
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Resource;

    #[test]
    fn replicas_default_to_one_and_conditions_are_found() {
        let rs: ReplicaSet = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-5d4f"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"spec": {"containers": [{"name": "web"}]}}},
            "status": {"replicas": 0, "conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate"}]}
        }))
        .unwrap();
        assert_eq!(rs.spec.replicas_or_default(), 1);
        let c = rs
            .condition(&ReplicaSetConditionType::ReplicaFailure)
            .unwrap();
        assert!(c.status.is_true());
        assert!(
            rs.condition(&ReplicaSetConditionType::Other("Stuck".into()))
                .is_none()
        );
        let ar = ReplicaSet::api_resource(&());
        assert_eq!(
            (ar.plural.as_ref(), ar.short_names[0].as_ref()),
            ("replicasets", "rs")
        );
    }

    #[test]
    fn empty_status_encodes_replicas_as_kubernetes_does() {
        let json = serde_json::to_value(ReplicaSet::default()).unwrap();
        assert_eq!(json["status"], serde_json::json!({"replicas": 0}));
        assert_eq!(
            json["spec"],
            serde_json::json!({"template": {"metadata": {}, "spec": {"containers": []}}})
        );
    }
}
