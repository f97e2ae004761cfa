//! Revisions and template hashes: which ReplicaSet is a Deployment's new one, its
//! `pod-template-hash`, and the annotations Kubernetes keeps on both.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube_core::{Deployment, DeploymentStrategyType, LabelSelector, PodTemplateSpec, ReplicaSet};

/// The label that tells a Deployment's ReplicaSets (and their pods) apart.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// The revision of a Deployment's rollout, on the Deployment and its ReplicaSets.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The earlier revisions a ReplicaSet had (after rollbacks).
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last scaled for it.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas plus its surge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// Why the rollout happened, as `kubectl rollout history` shows it.
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";

/// Deployment annotations not copied to its ReplicaSets (Kubernetes' `annotationsToSkip`).
pub(crate) const ANNOTATIONS_TO_SKIP: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    "deprecated.deployment.rollback.to",
];

/// 32-bit FNV-1a.
fn fnv1a(bytes: &[u8], mut hash: u32) -> u32 {
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// The `pod-template-hash` of a template: FNV-1a of its canonical JSON and the collision
/// count, written with Kubernetes' `SafeEncodeString` alphabet (no vowels, no look-alike
/// digits) over the decimal hash.
pub(crate) fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let json = serde_json::to_vec(template).unwrap_or_default();
    let mut hash = fnv1a(&json, 0x811c_9dc5);
    if let Some(c) = collision_count {
        hash = fnv1a(&c.to_le_bytes(), hash);
    }
    safe_encode(&hash.to_string())
}

fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// Two templates equal but for the `pod-template-hash` label.
pub(crate) fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        t.metadata.labels.remove(POD_TEMPLATE_HASH_LABEL);
        t
    };
    strip(a) == strip(b)
}

/// The revision annotation of a ReplicaSet (0 when absent or not a number).
pub(crate) fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .get(REVISION_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The highest revision among these ReplicaSets.
pub(crate) fn max_revision(sets: &[Arc<ReplicaSet>]) -> i64 {
    sets.iter().map(|rs| revision(rs)).max().unwrap_or(0)
}

/// Oldest first, then by name (Kubernetes' `ReplicaSetsByCreationTimestamp`).
pub(crate) fn sort_by_creation(sets: &mut [Arc<ReplicaSet>]) {
    sets.sort_by(|a, b| {
        let t = |rs: &ReplicaSet| rs.metadata.creation_timestamp.map(|t| t.0);
        t(a).cmp(&t(b))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// The new ReplicaSet (the oldest whose template is the Deployment's) and the others.
pub(crate) fn split_new_and_old(
    d: &Deployment,
    mut sets: Vec<Arc<ReplicaSet>>,
) -> (Option<Arc<ReplicaSet>>, Vec<Arc<ReplicaSet>>) {
    sort_by_creation(&mut sets);
    let position = sets
        .iter()
        .position(|rs| equal_ignore_hash(&rs.spec.template, &d.spec.template));
    let new = position.map(|i| sets.remove(i));
    (new, sets)
}

/// True for the rolling update strategy (the default).
pub(crate) fn is_rolling(d: &Deployment) -> bool {
    !matches!(
        d.spec.strategy.type_,
        Some(DeploymentStrategyType::Recreate)
    )
}

/// `maxSurge` and `maxUnavailable` resolved against `spec.replicas` (Kubernetes'
/// `ResolveFenceposts`): surge rounds up, unavailability down, and both zero means one
/// may be unavailable. An unparsable value counts as zero.
pub(crate) fn fenceposts(d: &Deployment) -> (i32, i32) {
    let desired = d.spec.replicas_or_default();
    let ru = d.spec.strategy.rolling_update.clone().unwrap_or_default();
    let resolve = |v: Option<kube_core::IntOrString>, default: &str, up: bool| {
        v.unwrap_or_else(|| default.into())
            .scaled_value(desired, up)
            .unwrap_or(0)
            .max(0)
    };
    let surge = resolve(ru.max_surge, "25%", true);
    let unavailable = resolve(ru.max_unavailable, "25%", false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// The pods a rolling update may add above `spec.replicas`.
pub(crate) fn max_surge(d: &Deployment) -> i32 {
    if is_rolling(d) { fenceposts(d).0 } else { 0 }
}

/// The pods that may be unavailable during a rolling update.
pub(crate) fn max_unavailable(d: &Deployment) -> i32 {
    let replicas = d.spec.replicas_or_default();
    if !is_rolling(d) || replicas == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas)
}

/// The labels and selector of a Deployment's ReplicaSet for this hash.
pub(crate) fn with_hash(
    labels: &BTreeMap<String, String>,
    selector: &LabelSelector,
    hash: &str,
) -> (BTreeMap<String, String>, LabelSelector) {
    let mut labels = labels.clone();
    labels.insert(POD_TEMPLATE_HASH_LABEL.to_owned(), hash.to_owned());
    let mut selector = selector.clone();
    selector
        .match_labels
        .insert(POD_TEMPLATE_HASH_LABEL.to_owned(), hash.to_owned());
    (labels, selector)
}

/// Copies the Deployment's annotations (but the skipped ones) to the ReplicaSet's;
/// returns true when anything changed.
pub(crate) fn copy_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    for (k, v) in &d.metadata.annotations {
        if ANNOTATIONS_TO_SKIP.contains(&k.as_str()) {
            continue;
        }
        if rs.metadata.annotations.get(k) != Some(v) {
            rs.metadata.annotations.insert(k.clone(), v.clone());
            changed = true;
        }
    }
    changed
}

/// Sets the desired and max replicas annotations; true when they changed.
pub(crate) fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let mut changed = false;
    for (k, v) in [
        (DESIRED_REPLICAS_ANNOTATION, desired),
        (MAX_REPLICAS_ANNOTATION, max),
    ] {
        let v = v.to_string();
        if rs.metadata.annotations.get(k) != Some(&v) {
            rs.metadata.annotations.insert(k.to_owned(), v);
            changed = true;
        }
    }
    changed
}

/// The desired-replicas annotation, if it parses.
pub(crate) fn desired_replicas(rs: &ReplicaSet) -> Option<i32> {
    rs.metadata
        .annotations
        .get(DESIRED_REPLICAS_ANNOTATION)
        .and_then(|v| v.parse().ok())
}

/// The max-replicas annotation, if it parses.
pub(crate) fn max_replicas(rs: &ReplicaSet) -> Option<i32> {
    rs.metadata
        .annotations
        .get(MAX_REPLICAS_ANNOTATION)
        .and_then(|v| v.parse().ok())
}

/// Brings the new ReplicaSet's annotations up to date (Kubernetes'
/// `SetNewReplicaSetAnnotations`): the Deployment's own, and the revision raised to
/// `new_revision` (keeping the earlier one in the history annotation); for a ReplicaSet
/// being created, the replicas annotations too. True when anything changed.
pub(crate) fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = copy_annotations(d, rs);
    let old = revision(rs);
    if old < new_revision {
        if old > 0 {
            let history = rs
                .metadata
                .annotations
                .get(REVISION_HISTORY_ANNOTATION)
                .filter(|h| !h.is_empty())
                .map_or_else(|| old.to_string(), |h| format!("{h},{old}"));
            rs.metadata
                .annotations
                .insert(REVISION_HISTORY_ANNOTATION.to_owned(), history);
        }
        rs.metadata
            .annotations
            .insert(REVISION_ANNOTATION.to_owned(), new_revision.to_string());
        changed = true;
    }
    if !exists {
        let replicas = d.spec.replicas_or_default();
        changed |= set_replicas_annotations(rs, replicas, replicas + max_surge(d));
    }
    changed
}

#[cfg(test)]
mod tests {
    use kube_core::{IntOrString, RollingUpdateDeployment};

    use super::*;

    fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
        let mut d = Deployment::default();
        d.spec.replicas = Some(replicas);
        d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
            max_surge: Some(surge),
            max_unavailable: Some(unavailable),
        });
        d
    }

    #[test]
    fn fenceposts_round_like_kubernetes() {
        let d = deployment(10, "25%".into(), "25%".into());
        assert_eq!(fenceposts(&d), (3, 2));
        let d = deployment(3, 0.into(), 0.into());
        assert_eq!(fenceposts(&d), (0, 1), "both zero: one may be unavailable");
        let d = deployment(2, 1.into(), 5.into());
        assert_eq!(max_unavailable(&d), 2, "capped at replicas");
        let d = deployment(0, 1.into(), 1.into());
        assert_eq!(max_unavailable(&d), 0);
        let mut d = deployment(4, 1.into(), 1.into());
        d.spec.strategy.type_ = Some(DeploymentStrategyType::Recreate);
        assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 0));
    }

    #[test]
    fn hashes_are_stable_safe_and_follow_the_collision_count() {
        let t = PodTemplateSpec::default();
        let h = template_hash(&t, None);
        assert_eq!(h, template_hash(&t, None));
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        assert_ne!(h, template_hash(&t, Some(1)));
        let mut other = t.clone();
        other.metadata.labels.insert("a".into(), "b".into());
        assert_ne!(h, template_hash(&other, None));
        // The hash label itself does not make templates differ.
        let mut hashed = t.clone();
        hashed
            .metadata
            .labels
            .insert(POD_TEMPLATE_HASH_LABEL.into(), h);
        assert!(equal_ignore_hash(&t, &hashed));
        assert!(!equal_ignore_hash(&t, &other));
    }

    #[test]
    fn revisions_move_forward_and_keep_history() {
        let mut d = Deployment::default();
        d.metadata
            .annotations
            .insert(CHANGE_CAUSE_ANNOTATION.into(), "upgrade".into());
        d.metadata
            .annotations
            .insert(REVISION_ANNOTATION.into(), "9".into());
        let mut rs = ReplicaSet::default();
        rs.metadata
            .annotations
            .insert(REVISION_ANNOTATION.into(), "1".into());
        assert!(set_new_rs_annotations(&d, &mut rs, 3, true));
        assert_eq!(revision(&rs), 3);
        assert_eq!(rs.metadata.annotations[REVISION_HISTORY_ANNOTATION], "1");
        assert_eq!(rs.metadata.annotations[CHANGE_CAUSE_ANNOTATION], "upgrade");
        assert!(!set_new_rs_annotations(&d, &mut rs, 3, true), "nothing new");
    }
}
