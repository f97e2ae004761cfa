//! `Deployment` (apps/v1): declarative rollouts of a pod template through ReplicaSets.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core_v1::{ConditionStatus, PodTemplateSpec};
use crate::int_or_string::IntOrString;
use crate::meta::ObjectMeta;
use crate::selector::LabelSelector;
use crate::time::Time;

/// Runs a replicated application and rolls out changes to its pod template by scaling a new
/// ReplicaSet up and the old ones down (`apps/v1.Deployment`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: DeploymentSpec,
    /// The observed state, written by the Deployment controller.
    #[serde(default)]
    pub status: DeploymentStatus,
}

crate::impl_resource!(Deployment {
    group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true,
    short_names: ["deploy"], categories: ["all"],
    fields: { metadata: "metadata", spec: "spec", status: "status" }
});

impl Deployment {
    /// The condition of this type, if reported.
    pub fn condition(&self, type_: &DeploymentConditionType) -> Option<&DeploymentCondition> {
        self.status.conditions.iter().find(|c| c.type_ == *type_)
    }
}

/// The desired state of a Deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// How many pods to run; 1 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// The pods this Deployment manages; must match the template's labels and not change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The pods it runs; changing it starts a rollout. Always encoded.
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// How old pods are replaced by new ones. Always encoded.
    #[serde(default)]
    pub strategy: DeploymentStrategy,
    /// Seconds a new pod must be ready, without crashing, to count as available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// How many old, scaled-down ReplicaSets are kept for rollback (10 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// While true, template changes do not start a rollout.
    #[serde(default, skip_serializing_if = "crate::wire::is_false")]
    pub paused: bool,
    /// Seconds without progress before the rollout is reported as failed
    /// (`Progressing=False`, reason `ProgressDeadlineExceeded`); 600 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
}

impl DeploymentSpec {
    /// The desired replicas, with Kubernetes' default of 1.
    pub fn replicas_or_default(&self) -> i32 {
        self.replicas.unwrap_or(1)
    }
}

/// How a Deployment replaces old pods with new ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStrategy {
    /// `RollingUpdate` (the default) or `Recreate`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<DeploymentStrategyType>,
    /// The rolling update's bounds, for `RollingUpdate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateDeployment>,
}

/// The kind of rollout a Deployment does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DeploymentStrategyType {
    /// Kill every old pod before creating new ones.
    Recreate,
    /// Replace pods gradually, within `maxUnavailable` and `maxSurge`; the default.
    #[default]
    RollingUpdate,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// The bounds of a Deployment's rolling update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateDeployment {
    /// How many pods (or what percentage, rounded down) may be unavailable during the
    /// update; 25% by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// How many pods (or what percentage, rounded up) may exist above the desired count
    /// during the update; 25% by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
}

/// The observed state of a Deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// The generation the controller last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pods owned by the Deployment's ReplicaSets (not terminating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Pods that run the current template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    /// Pods with a `Ready` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Pods ready for at least `minReadySeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// Pods still needed for full capacity: desired minus available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_replicas: Option<i32>,
    /// Pods being deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating_replicas: Option<i32>,
    /// The latest observations of the rollout.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub conditions: Vec<DeploymentCondition>,
    /// Bumped when the hash of a new ReplicaSet's name collides with an existing one, to
    /// make the next name unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
}

impl DeploymentStatus {
    /// The condition of this type, if reported.
    pub fn condition(&self, type_: &DeploymentConditionType) -> Option<&DeploymentCondition> {
        self.conditions.iter().find(|c| c.type_ == *type_)
    }

    /// Adds or updates a condition as the Deployment controller does: nothing changes when
    /// the status and reason are the same as before; otherwise the condition is replaced
    /// with `lastUpdateTime` set to `now` and `lastTransitionTime` kept if the status did
    /// not change (`now` if it did). Returns true when anything changed.
    pub fn set_condition(&mut self, mut condition: DeploymentCondition, now: Time) -> bool {
        condition.last_update_time = Some(now);
        match self
            .conditions
            .iter_mut()
            .find(|c| c.type_ == condition.type_)
        {
            None => {
                condition.last_transition_time = Some(now);
                self.conditions.push(condition);
                true
            }
            Some(existing)
                if existing.status == condition.status && existing.reason == condition.reason =>
            {
                false
            }
            Some(existing) => {
                condition.last_transition_time = if existing.status == condition.status {
                    existing.last_transition_time
                } else {
                    Some(now)
                };
                *existing = condition;
                true
            }
        }
    }
}

/// A condition of a Deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCondition {
    /// What the condition is about.
    #[serde(rename = "type", default)]
    pub type_: DeploymentConditionType,
    /// Whether it holds.
    #[serde(default)]
    pub status: ConditionStatus,
    /// When the condition was last updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A brief CamelCase reason (`NewReplicaSetAvailable`, `ProgressDeadlineExceeded`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl DeploymentCondition {
    /// A condition of this type and status with a reason and a message, without times.
    pub fn new(
        type_: DeploymentConditionType,
        status: ConditionStatus,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            last_update_time: None,
            last_transition_time: None,
            reason: Some(reason.into()),
            message: Some(message.into()),
        }
    }
}

/// The type of a Deployment condition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DeploymentConditionType {
    /// At least the minimum number of pods is available.
    #[default]
    Available,
    /// The rollout is progressing, complete, or (when `False`) stuck past its deadline.
    Progressing,
    /// A pod could not be created or deleted.
    ReplicaFailure,
    /// Any other type; kept as written.
    #[serde(untagged)]
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> Time {
        Time::parse(s).unwrap()
    }

    #[test]
    fn strategy_types_keep_unknown_values() {
        let s: DeploymentStrategy = serde_json::from_value(serde_json::json!({
            "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "50%"}
        }))
        .unwrap();
        assert_eq!(s.type_, Some(DeploymentStrategyType::RollingUpdate));
        let ru = s.rolling_update.unwrap();
        assert_eq!(ru.max_unavailable, Some(IntOrString::Int(0)));
        assert_eq!(ru.max_surge, Some(IntOrString::from("50%")));
        let t: DeploymentStrategyType = serde_json::from_str(r#""BlueGreen""#).unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), r#""BlueGreen""#);
        let schema = serde_json::to_value(schemars::schema_for!(Deployment)).unwrap();
        assert!(schema["properties"]["spec"].is_object());
    }

    #[test]
    fn set_condition_follows_the_deployment_controller() {
        let (t0, t1, t2) = (
            time("2024-05-01T12:00:00Z"),
            time("2024-05-01T12:01:00Z"),
            time("2024-05-01T12:02:00Z"),
        );
        let progressing = |status, reason: &str| {
            DeploymentCondition::new(DeploymentConditionType::Progressing, status, reason, "msg")
        };
        let mut status = DeploymentStatus::default();
        assert!(status.set_condition(
            progressing(ConditionStatus::True, "NewReplicaSetCreated"),
            t0
        ));
        // Same status and reason: untouched, even with another message.
        let mut again = progressing(ConditionStatus::True, "NewReplicaSetCreated");
        again.message = Some("other".into());
        assert!(!status.set_condition(again, t1));
        let c = status
            .condition(&DeploymentConditionType::Progressing)
            .unwrap();
        assert_eq!(
            (c.last_update_time, c.message.as_deref()),
            (Some(t0), Some("msg"))
        );
        // New reason, same status: updated, transition time kept.
        assert!(status.set_condition(
            progressing(ConditionStatus::True, "NewReplicaSetAvailable"),
            t1
        ));
        let c = status
            .condition(&DeploymentConditionType::Progressing)
            .unwrap();
        assert_eq!(
            (c.last_update_time, c.last_transition_time),
            (Some(t1), Some(t0))
        );
        // New status: both times move.
        assert!(status.set_condition(
            progressing(ConditionStatus::False, "ProgressDeadlineExceeded"),
            t2
        ));
        let c = status
            .condition(&DeploymentConditionType::Progressing)
            .unwrap();
        assert_eq!(
            (c.last_update_time, c.last_transition_time),
            (Some(t2), Some(t2))
        );
        assert_eq!(status.conditions.len(), 1);
    }

    #[test]
    fn empty_deployment_encodes_strategy_spec_and_status() {
        let json = serde_json::to_value(Deployment::default()).unwrap();
        assert_eq!(json["apiVersion"], "apps/v1");
        assert_eq!(json["spec"]["strategy"], serde_json::json!({}));
        assert_eq!(json["status"], serde_json::json!({}));
        assert_eq!(DeploymentSpec::default().replicas_or_default(), 1);
    }
}
