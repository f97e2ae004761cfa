//! `Job` (batch/v1): pods that run to completion.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core_v1::{ConditionStatus, PodTemplateSpec};
use crate::meta::ObjectMeta;
use crate::selector::LabelSelector;
use crate::time::Time;

/// Runs pods until a number of them succeed, retrying failures up to a limit
/// (`batch/v1.Job`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: JobSpec,
    /// The observed state, written by the Job controller.
    #[serde(default)]
    pub status: JobStatus,
}

crate::impl_resource!(Job {
    group: "batch", version: "v1", kind: "Job", plural: "jobs", namespaced: true,
    short_names: [], categories: ["all"],
    fields: { metadata: "metadata", spec: "spec", status: "status" }
});

impl Job {
    /// The condition of this type, if reported.
    pub fn condition(&self, type_: &JobConditionType) -> Option<&JobCondition> {
        self.status.condition(type_)
    }

    /// True once the Job has a `Complete` or `Failed` condition that is `True`: it will
    /// start no more pods.
    pub fn is_finished(&self) -> bool {
        [JobConditionType::Complete, JobConditionType::Failed]
            .iter()
            .any(|t| self.condition(t).is_some_and(|c| c.status.is_true()))
    }

    /// True when the Job is suspended: no new pods, running ones are deleted.
    pub fn is_suspended(&self) -> bool {
        self.spec.suspend == Some(true)
    }
}

/// The desired state of a Job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// The most pods running at once; 1 by default, 0 pauses the Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// How many pods must succeed; unset means any success (after which no new pods start)
    /// completes the Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completions: Option<i32>,
    /// Seconds from the Job's start after which it fails and its pods are killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// Rules that fail the Job or ignore a pod failure by exit code or pod condition, kept
    /// as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_failure_policy: Option<serde_json::Value>,
    /// Rules that declare an indexed Job succeeded early, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_policy: Option<serde_json::Value>,
    /// Failed pods tolerated before the Job fails; 6 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<i32>,
    /// For indexed Jobs: failures tolerated per index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit_per_index: Option<i32>,
    /// For indexed Jobs with a per-index limit: failed indexes tolerated before the Job
    /// fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failed_indexes: Option<i32>,
    /// The pods this Job counts; generated from the Job's uid unless `manualSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// True when the user wrote `selector` and the server must not generate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_selector: Option<bool>,
    /// The pods it runs; their restart policy must be `Never` or `OnFailure`. Always
    /// encoded.
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// Seconds after the Job finishes before it is deleted, with its pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i32>,
    /// `NonIndexed` (the default: any pods count) or `Indexed` (one success per index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_mode: Option<CompletionMode>,
    /// While true, no pods are started and running ones are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// When replacement pods are created: `TerminatingOrFailed` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_replacement_policy: Option<String>,
    /// The controller that manages this Job, when not the built-in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
}

impl JobSpec {
    /// Pods running at once, with Kubernetes' default of 1.
    pub fn parallelism_or_default(&self) -> i32 {
        self.parallelism.unwrap_or(1)
    }

    /// Failures tolerated, with Kubernetes' default of 6.
    pub fn backoff_limit_or_default(&self) -> i32 {
        self.backoff_limit.unwrap_or(6)
    }
}

/// How a Job counts completions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum CompletionMode {
    /// Any `completions` successful pods complete the Job; the default.
    #[default]
    NonIndexed,
    /// Each index from 0 to `completions - 1` needs one successful pod.
    Indexed,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// The observed state of a Job.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// The latest observations: `Complete`, `Failed`, `Suspended`...
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub conditions: Vec<JobCondition>,
    /// When the controller started the Job (reset when it resumes from suspension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the Job completed successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Pods pending or running (not terminating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<i32>,
    /// Pods that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<i32>,
    /// Pods that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<i32>,
    /// Pods being deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<i32>,
    /// For indexed Jobs: the completed indexes, as ranges (`"1,3-5,7"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_indexes: Option<String>,
    /// For indexed Jobs with a per-index limit: the failed indexes, as ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_indexes: Option<String>,
    /// Finished pods the controller has not counted yet, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncounted_terminated_pods: Option<serde_json::Value>,
    /// Active pods with a `Ready` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<i32>,
}

impl JobStatus {
    /// The condition of this type, if reported.
    pub fn condition(&self, type_: &JobConditionType) -> Option<&JobCondition> {
        self.conditions.iter().find(|c| c.type_ == *type_)
    }
}

/// A condition of a Job.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobCondition {
    /// What the condition is about.
    #[serde(rename = "type", default)]
    pub type_: JobConditionType,
    /// Whether it holds.
    #[serde(default)]
    pub status: ConditionStatus,
    /// When the condition was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A brief CamelCase reason (`BackoffLimitExceeded`, `DeadlineExceeded`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The type of a Job condition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum JobConditionType {
    /// The Job is suspended.
    Suspended,
    /// The Job completed successfully.
    #[default]
    Complete,
    /// The Job failed.
    Failed,
    /// The Job is about to fail; its pods are being terminated.
    FailureTarget,
    /// The Job met its success criteria; its pods are being terminated.
    SuccessCriteriaMet,
    /// Any other type; kept as written.
    #[serde(untagged)]
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Resource;

    fn job(status: &serde_json::Value) -> Job {
        serde_json::from_value(serde_json::json!({"spec": {"suspend": true}, "status": status}))
            .unwrap()
    }

    #[test]
    fn finished_means_complete_or_failed_and_true() {
        assert!(!job(&serde_json::json!({})).is_finished());
        assert!(
            job(&serde_json::json!({"conditions": [{"type": "Complete", "status": "True"}]}))
                .is_finished()
        );
        assert!(
            job(&serde_json::json!({"conditions": [{"type": "Failed", "status": "True"}]}))
                .is_finished()
        );
        assert!(
            !job(&serde_json::json!({"conditions": [{"type": "Failed", "status": "False"}]}))
                .is_finished()
        );
        assert!(
            !job(&serde_json::json!({"conditions": [{"type": "FailureTarget", "status": "True"}]}))
                .is_finished()
        );
        let j = job(&serde_json::json!({"conditions": [{"type": "Suspended", "status": "True"}]}));
        assert!(j.is_suspended());
        assert!(j.condition(&JobConditionType::Suspended).is_some());
    }

    #[test]
    fn defaults_and_registration() {
        let spec = JobSpec::default();
        assert_eq!(
            (
                spec.parallelism_or_default(),
                spec.backoff_limit_or_default()
            ),
            (1, 6)
        );
        let ar = Job::api_resource(&());
        assert_eq!(
            (ar.api_version(), ar.plural.as_ref()),
            ("batch/v1".to_owned(), "jobs")
        );
        assert_eq!(ar.categories[0], "all");
        let mode: CompletionMode = serde_json::from_str(r#""Indexed""#).unwrap();
        assert_eq!(mode, CompletionMode::Indexed);
        let schema = serde_json::to_value(schemars::schema_for!(Job)).unwrap();
        assert!(schema["properties"]["spec"].is_object());
    }
}
