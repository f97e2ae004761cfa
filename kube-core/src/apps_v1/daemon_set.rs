//! `DaemonSet` (apps/v1): one pod on every eligible node.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core_v1::{ConditionStatus, PodTemplateSpec};
use crate::int_or_string::IntOrString;
use crate::meta::ObjectMeta;
use crate::selector::LabelSelector;
use crate::time::Time;

/// Runs one copy of a pod on every node its template's scheduling constraints allow
/// (`apps/v1.DaemonSet`): log collectors, node agents, network plugins.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSet {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: DaemonSetSpec,
    /// The observed state, written by the DaemonSet controller.
    #[serde(default)]
    pub status: DaemonSetStatus,
}

crate::impl_resource!(DaemonSet {
    group: "apps", version: "v1", kind: "DaemonSet", plural: "daemonsets", namespaced: true,
    short_names: ["ds"], categories: ["all"],
    fields: { metadata: "metadata", spec: "spec", status: "status" }
});

/// The desired state of a DaemonSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetSpec {
    /// The pods this DaemonSet manages; must match the template's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The pod run on each node. Always encoded.
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// How pods are replaced when the template changes. Always encoded.
    #[serde(default)]
    pub update_strategy: DaemonSetUpdateStrategy,
    /// Seconds a new pod must be ready, without crashing, to count as available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// How many old revisions are kept for rollback (10 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
}

/// How a DaemonSet replaces its pods when the template changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetUpdateStrategy {
    /// `RollingUpdate` (the default) or `OnDelete`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<DaemonSetUpdateStrategyType>,
    /// The rolling update's bounds, for `RollingUpdate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateDaemonSet>,
}

/// The kind of update a DaemonSet does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DaemonSetUpdateStrategyType {
    /// Replace pods node by node, within `maxUnavailable` and `maxSurge`; the default.
    #[default]
    RollingUpdate,
    /// Replace a pod only when it is deleted by hand.
    OnDelete,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// The bounds of a DaemonSet's rolling update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateDaemonSet {
    /// How many nodes (or what percentage of them, rounded up) may be without an
    /// available pod during the update; 1 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// How many nodes (or what percentage, rounded up) may run an old and a new pod at
    /// once during the update; 0 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
}

/// The observed state of a DaemonSet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetStatus {
    /// Nodes that run at least one daemon pod and should. Always encoded.
    #[serde(default)]
    pub current_number_scheduled: i32,
    /// Nodes that run a daemon pod but should not. Always encoded.
    #[serde(default)]
    pub number_misscheduled: i32,
    /// Nodes that should run the daemon pod. Always encoded.
    #[serde(default)]
    pub desired_number_scheduled: i32,
    /// Nodes whose daemon pod is ready. Always encoded.
    #[serde(default)]
    pub number_ready: i32,
    /// The generation the controller last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Nodes that run the current template's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_number_scheduled: Option<i32>,
    /// Nodes whose daemon pod has been ready for at least `minReadySeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_available: Option<i32>,
    /// Nodes that should run an available daemon pod but do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_unavailable: Option<i32>,
    /// Bumped when the hash of a new revision's name collides with an existing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// The latest observations of the DaemonSet's state.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub conditions: Vec<DaemonSetCondition>,
}

/// A condition of a DaemonSet (Kubernetes defines no standard types for it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetCondition {
    /// What the condition is about.
    #[serde(rename = "type", default)]
    pub type_: String,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Resource;

    #[test]
    fn empty_status_encodes_the_counts_kubernetes_always_writes() {
        let json = serde_json::to_value(DaemonSet::default()).unwrap();
        assert_eq!(
            json["status"],
            serde_json::json!({
                "currentNumberScheduled": 0, "numberMisscheduled": 0,
                "desiredNumberScheduled": 0, "numberReady": 0
            })
        );
        assert_eq!(json["spec"]["updateStrategy"], serde_json::json!({}));
        assert_eq!(DaemonSet::api_resource(&()).short_names[0], "ds");
    }

    #[test]
    fn update_strategy_types_keep_unknown_values() {
        let s: DaemonSetUpdateStrategy = serde_json::from_value(serde_json::json!({
            "type": "OnDelete"
        }))
        .unwrap();
        assert_eq!(s.type_, Some(DaemonSetUpdateStrategyType::OnDelete));
        let t: DaemonSetUpdateStrategyType = serde_json::from_str(r#""Canary""#).unwrap();
        assert_eq!(t, DaemonSetUpdateStrategyType::Other("Canary".into()));
        assert_eq!(serde_json::to_string(&t).unwrap(), r#""Canary""#);
        let schema = serde_json::to_value(schemars::schema_for!(DaemonSet)).unwrap();
        assert!(schema["properties"]["status"].is_object());
    }
}
