//! A Deployment's status and conditions: the counts summed over its ReplicaSets,
//! `Available`, and `Progressing` with the reasons `kubectl rollout status` reads.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kube_core::{
    ConditionStatus, Deployment, DeploymentCondition, DeploymentConditionType, DeploymentStatus,
    ReplicaSet, ReplicaSetConditionType, ResourceExt as _, Time,
};

use super::revision::max_unavailable;

/// `Progressing=True`: the rollout finished.
pub const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
/// `Progressing=True`: pods of the new ReplicaSet are being updated.
pub const RS_UPDATED_REASON: &str = "ReplicaSetUpdated";
/// `Progressing=True`: a new ReplicaSet was created.
pub const NEW_RS_CREATED_REASON: &str = "NewReplicaSetCreated";
/// `Progressing=True`: an existing ReplicaSet matches the template.
pub const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
/// `Progressing=False`: creating the new ReplicaSet failed.
pub const FAILED_RS_CREATE_REASON: &str = "FailedRSCreate";
/// `Progressing=False`: no progress within `progressDeadlineSeconds`.
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
/// `Progressing=Unknown`: the Deployment is paused.
pub const PAUSED_REASON: &str = "DeploymentPaused";
/// `Progressing=Unknown`: the Deployment was resumed.
pub const RESUMED_REASON: &str = "DeploymentResumed";
/// `Available=True`.
pub const MIN_AVAILABLE_REASON: &str = "MinimumReplicasAvailable";
/// `Available=False`.
pub const MIN_UNAVAILABLE_REASON: &str = "MinimumReplicasUnavailable";

fn sum(sets: &[Arc<ReplicaSet>], f: impl Fn(&ReplicaSet) -> i32) -> i32 {
    sets.iter().map(|rs| f(rs)).fold(0i32, i32::saturating_add)
}

/// The pods the ReplicaSets should run (their `spec.replicas`).
pub(crate) fn spec_replicas(sets: &[Arc<ReplicaSet>]) -> i32 {
    sum(sets, |rs| rs.spec.replicas_or_default())
}

/// The pods the ReplicaSets report available.
pub(crate) fn available_replicas(sets: &[Arc<ReplicaSet>]) -> i32 {
    sum(sets, |rs| rs.status.available_replicas.unwrap_or(0))
}

/// A condition with both times set to now.
pub(crate) fn condition(
    type_: DeploymentConditionType,
    status: ConditionStatus,
    reason: &str,
    message: String,
) -> DeploymentCondition {
    let now = Time::now();
    let mut c = DeploymentCondition::new(type_, status, reason, message);
    c.last_update_time = Some(now);
    c.last_transition_time = Some(now);
    c
}

/// Kubernetes' `SetDeploymentCondition`: no change when status and reason are the same;
/// the transition time kept when only the reason changes.
pub(crate) fn set_condition(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    if let Some(current) = status.condition(&c.type_) {
        if current.status == c.status && current.reason == c.reason {
            return;
        }
        if current.status == c.status {
            c.last_transition_time = current.last_transition_time;
        }
    }
    status.conditions.retain(|x| x.type_ != c.type_);
    status.conditions.push(c);
}

fn remove_condition(status: &mut DeploymentStatus, type_: &DeploymentConditionType) {
    status.conditions.retain(|c| c.type_ != *type_);
}

/// True when `progressDeadlineSeconds` is set to something finite.
pub(crate) fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .progress_deadline_seconds
        .is_some_and(|s| s != i32::MAX)
}

/// The status the ReplicaSets give (Kubernetes' `calculateStatus`), with `Available`.
pub(crate) fn calculate(
    d: &Deployment,
    all: &[Arc<ReplicaSet>],
    new: Option<&Arc<ReplicaSet>>,
) -> DeploymentStatus {
    let available = available_replicas(all);
    let total = spec_replicas(all);
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(sum(all, |rs| rs.status.replicas)),
        updated_replicas: Some(new.map_or(0, |rs| rs.status.replicas)),
        ready_replicas: Some(sum(all, |rs| rs.status.ready_replicas.unwrap_or(0))),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        terminating_replicas: d.status.terminating_replicas,
        conditions: d.status.conditions.clone(),
        collision_count: d.status.collision_count,
    };
    let replicas = d.spec.replicas_or_default();
    if available >= replicas - max_unavailable(d) {
        set_condition(
            &mut status,
            condition(
                DeploymentConditionType::Available,
                ConditionStatus::True,
                MIN_AVAILABLE_REASON,
                "Deployment has minimum availability.".into(),
            ),
        );
    } else {
        set_condition(
            &mut status,
            condition(
                DeploymentConditionType::Available,
                ConditionStatus::False,
                MIN_UNAVAILABLE_REASON,
                "Deployment does not have minimum availability.".into(),
            ),
        );
    }
    status
}

/// Every pod updated and available, at the current generation.
pub(crate) fn complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let replicas = d.spec.replicas_or_default();
    status.updated_replicas == Some(replicas)
        && status.replicas == Some(replicas)
        && status.available_replicas == Some(replicas)
        && status.observed_generation >= d.metadata.generation
}

/// More updated, ready or available pods, or fewer old ones, than the last status said.
fn progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = &d.status;
    let v = |x: Option<i32>| x.unwrap_or(0);
    let old_old = v(old.replicas) - v(old.updated_replicas);
    let new_old = v(new.replicas) - v(new.updated_replicas);
    v(new.updated_replicas) > v(old.updated_replicas)
        || new_old < old_old
        || v(new.ready_replicas) > v(old.ready_replicas)
        || v(new.available_replicas) > v(old.available_replicas)
}

/// No progress reported for `progressDeadlineSeconds`.
fn timed_out(d: &Deployment, status: &DeploymentStatus) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(c) = status.condition(&DeploymentConditionType::Progressing) else {
        return false;
    };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE_REASON) => false,
        Some(TIMED_OUT_REASON) => true,
        _ => {
            let deadline = i64::from(d.spec.progress_deadline_seconds.unwrap_or(600));
            c.last_update_time
                .is_some_and(|t| t.0 + chrono::Duration::seconds(deadline) < Utc::now())
        }
    }
}

/// The status after a rollout step (Kubernetes' `syncRolloutStatus`), and when to look
/// again for the progress deadline.
pub(crate) fn rollout(
    d: &Deployment,
    all: &[Arc<ReplicaSet>],
    new: Option<&Arc<ReplicaSet>>,
) -> (DeploymentStatus, Option<Duration>) {
    let mut status = calculate(d, all, new);
    if !has_progress_deadline(d) {
        remove_condition(&mut status, &DeploymentConditionType::Progressing);
    }
    let current = d
        .status
        .condition(&DeploymentConditionType::Progressing)
        .cloned();
    let is_complete = status.replicas == status.updated_replicas
        && current
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE_REASON));
    let subject = |what: &str| match new {
        Some(rs) => format!("ReplicaSet \"{}\" {what}", rs.name_any()),
        None => format!("Deployment \"{}\" {what}", d.name_any()),
    };
    if has_progress_deadline(d) && !is_complete {
        if complete(d, &status) {
            set_condition(
                &mut status,
                condition(
                    DeploymentConditionType::Progressing,
                    ConditionStatus::True,
                    NEW_RS_AVAILABLE_REASON,
                    subject("has successfully progressed."),
                ),
            );
        } else if progressing(d, &status) {
            let mut c = condition(
                DeploymentConditionType::Progressing,
                ConditionStatus::True,
                RS_UPDATED_REASON,
                subject("is progressing."),
            );
            // Progress refreshes the update time (the deadline counts from it); the
            // transition time stays while the status stays True.
            if let Some(cur) = &current {
                if cur.status == ConditionStatus::True {
                    c.last_transition_time = cur.last_transition_time;
                }
                remove_condition(&mut status, &DeploymentConditionType::Progressing);
            }
            set_condition(&mut status, c);
        } else if timed_out(d, &status) {
            set_condition(
                &mut status,
                condition(
                    DeploymentConditionType::Progressing,
                    ConditionStatus::False,
                    TIMED_OUT_REASON,
                    subject("has timed out progressing."),
                ),
            );
        }
    }
    match replica_failure(all) {
        Some(c) => set_condition(&mut status, c),
        None => remove_condition(&mut status, &DeploymentConditionType::ReplicaFailure),
    }
    let requeue = requeue_for_deadline(d, &status);
    (status, requeue)
}

/// The first `ReplicaFailure` of the ReplicaSets, as a Deployment condition.
fn replica_failure(all: &[Arc<ReplicaSet>]) -> Option<DeploymentCondition> {
    all.iter().find_map(|rs| {
        let c = rs.condition(&ReplicaSetConditionType::ReplicaFailure)?;
        (c.status == ConditionStatus::True).then(|| {
            condition(
                DeploymentConditionType::ReplicaFailure,
                ConditionStatus::True,
                c.reason.as_deref().unwrap_or("FailedCreate"),
                c.message.clone().unwrap_or_default(),
            )
        })
    })
}

/// When a rollout still in progress would pass its deadline (Kubernetes'
/// `requeueStuckDeployment`).
fn requeue_for_deadline(d: &Deployment, status: &DeploymentStatus) -> Option<Duration> {
    let c = status.condition(&DeploymentConditionType::Progressing)?;
    if !has_progress_deadline(d)
        || complete(d, status)
        || c.reason.as_deref() == Some(TIMED_OUT_REASON)
    {
        return None;
    }
    let deadline = i64::from(d.spec.progress_deadline_seconds.unwrap_or(600));
    let at = c.last_update_time?.0 + chrono::Duration::seconds(deadline);
    let left = (at - Utc::now()).to_std().unwrap_or_default();
    Some(left + Duration::from_secs(1))
}

/// The `Progressing` condition a pause or resume calls for (Kubernetes'
/// `checkPausedConditions`), if it changes.
pub(crate) fn paused_condition(d: &Deployment) -> Option<DeploymentStatus> {
    if !has_progress_deadline(d) {
        return None;
    }
    let current = d.status.condition(&DeploymentConditionType::Progressing);
    let reason = current.and_then(|c| c.reason.as_deref());
    if reason == Some(TIMED_OUT_REASON) {
        return None;
    }
    let paused_shown = reason == Some(PAUSED_REASON);
    let mut status = d.status.clone();
    if d.spec.paused && !paused_shown {
        set_condition(
            &mut status,
            condition(
                DeploymentConditionType::Progressing,
                ConditionStatus::Unknown,
                PAUSED_REASON,
                "Deployment is paused".into(),
            ),
        );
    } else if !d.spec.paused && paused_shown {
        set_condition(
            &mut status,
            condition(
                DeploymentConditionType::Progressing,
                ConditionStatus::Unknown,
                RESUMED_REASON,
                "Deployment is resumed".into(),
            ),
        );
    } else {
        return None;
    }
    Some(status)
}
