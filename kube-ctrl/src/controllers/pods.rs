//! What the pod-managing controllers share: pods from a template, which pods count as
//! active, ready or available, and the order in which to delete them.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kube_core::{
    ConditionStatus, ObjectMeta, OwnerReference, Pod, PodConditionType, PodPhase, PodTemplateSpec,
    ResourceExt as _,
};

/// `s` cut to at most `max` bytes, at a character boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    // (`str::floor_char_boundary` is newer than this workspace's rust-version.)
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The `generateName` of pods named after `prefix`: `{prefix}-`, with the prefix cut so
/// that the name the API server makes of it (five more characters) stays within a DNS
/// label's 63.
pub(crate) fn generate_name(prefix: &str) -> String {
    format!("{}-", cut(prefix, 57))
}

/// A pod for `template`, owned by `owner`, named `{prefix}-xxxxx` by the API server.
pub(crate) fn from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    prefix: &str,
    owner: OwnerReference,
) -> Pod {
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name(prefix)),
            namespace: Some(namespace.to_owned()),
            labels: template.metadata.labels.clone(),
            annotations: template.metadata.annotations.clone(),
            finalizers: template.metadata.finalizers.clone(),
            owner_references: vec![owner],
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        ..Pod::default()
    }
}

/// Neither finished nor being deleted (Kubernetes' `IsPodActive`).
pub(crate) fn is_active(pod: &Pod) -> bool {
    !pod.is_terminal() && !pod.is_being_deleted()
}

/// When the pod last became ready, if it is ready.
pub(crate) fn ready_since(pod: &Pod) -> Option<DateTime<Utc>> {
    let c = pod.condition(&PodConditionType::Ready)?;
    if c.status != ConditionStatus::True {
        return None;
    }
    Some(
        c.last_transition_time
            .map_or(DateTime::<Utc>::MIN_UTC, |t| t.0),
    )
}

/// Ready for at least `min_ready_seconds` at `now` (Kubernetes' `IsPodAvailable`).
pub(crate) fn is_available(pod: &Pod, min_ready_seconds: i32, now: DateTime<Utc>) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(since) => since + chrono::Duration::seconds(i64::from(min_ready_seconds)) <= now,
    }
}

/// How long until a ready pod becomes available, if it is not yet.
pub(crate) fn until_available(
    pod: &Pod,
    min_ready_seconds: i32,
    now: DateTime<Utc>,
) -> Option<std::time::Duration> {
    let since = ready_since(pod)?;
    let at = since + chrono::Duration::seconds(i64::from(min_ready_seconds));
    (at > now).then(|| (at - now).to_std().unwrap_or_default())
}

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.phase {
        Some(PodPhase::Pending) | None => 0,
        Some(PodPhase::Unknown) => 1,
        Some(PodPhase::Running) => 2,
        _ => 3,
    }
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .container_statuses
        .iter()
        .map(|s| s.restart_count)
        .max()
        .unwrap_or(0)
}

/// Orders pods for deletion, the first to go first (Kubernetes' `ActivePodsWithRanks`):
/// not yet on a node; pending before unknown before running; not ready before ready; on a
/// node crowded with pods of the same owner; ready for less time; restarted more; newer.
pub(crate) fn sort_for_deletion(pods: &mut [Arc<Pod>]) {
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for p in pods.iter() {
        if let Some(node) = p.spec.node_name.as_deref().filter(|n| !n.is_empty()) {
            *per_node.entry(node.to_owned()).or_default() += 1;
        }
    }
    let rank = |p: &Pod| {
        p.spec
            .node_name
            .as_deref()
            .and_then(|n| per_node.get(n))
            .copied()
            .unwrap_or(0)
    };
    pods.sort_by(|a, b| {
        let key = |p: &Pod| (p.is_scheduled(), phase_rank(p), p.is_ready());
        key(a)
            .cmp(&key(b))
            .then_with(|| rank(b).cmp(&rank(a)))
            .then_with(|| match (ready_since(a), ready_since(b)) {
                (Some(x), Some(y)) => y.cmp(&x),
                _ => Ordering::Equal,
            })
            .then_with(|| restarts(b).cmp(&restarts(a)))
            .then_with(|| {
                let created = |p: &Pod| p.metadata.creation_timestamp.map(|t| t.0);
                created(b).cmp(&created(a))
            })
            .then_with(|| a.name_any().cmp(b.name_any()))
    });
}

#[cfg(test)]
mod tests {
    use kube_core::{PodCondition, Time};

    use super::*;

    fn pod(name: &str, node: Option<&str>, phase: PodPhase, ready: Option<&str>) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.spec.node_name = node.map(str::to_owned);
        p.status.phase = Some(phase);
        if let Some(at) = ready {
            let mut c = PodCondition::new(PodConditionType::Ready, ConditionStatus::True);
            c.last_transition_time = Some(Time::parse(at).unwrap());
            p.status.conditions.push(c);
        }
        Arc::new(p)
    }

    #[test]
    fn generated_names_stay_within_a_dns_label() {
        assert_eq!(generate_name("web"), "web-");
        let long = "a".repeat(70);
        assert_eq!(generate_name(&long).len(), 58);
        // Cut at a character boundary, never inside one.
        let wide = "é".repeat(40);
        assert!(generate_name(&wide).len() <= 58);
        assert_eq!(cut("ab", 5), "ab");
        assert_eq!(cut("aé", 2), "a");
    }

    #[test]
    fn deletion_prefers_the_least_useful_pods() {
        let mut pods = vec![
            pod(
                "old-ready",
                Some("n1"),
                PodPhase::Running,
                Some("2024-01-01T00:00:00Z"),
            ),
            pod(
                "new-ready",
                Some("n2"),
                PodPhase::Running,
                Some("2024-06-01T00:00:00Z"),
            ),
            pod("running", Some("n3"), PodPhase::Running, None),
            pod("pending", Some("n4"), PodPhase::Pending, None),
            pod("unscheduled", None, PodPhase::Pending, None),
        ];
        sort_for_deletion(&mut pods);
        let names: Vec<&str> = pods.iter().map(|p| p.name_any()).collect();
        assert_eq!(
            names,
            [
                "unscheduled",
                "pending",
                "running",
                "new-ready",
                "old-ready"
            ]
        );
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let p = pod("p", None, PodPhase::Running, Some("2024-01-01T00:00:00Z"));
        let at = |s: &str| Time::parse(s).unwrap().0;
        assert!(is_available(&p, 0, at("2024-01-01T00:00:00Z")));
        assert!(!is_available(&p, 10, at("2024-01-01T00:00:05Z")));
        assert!(is_available(&p, 10, at("2024-01-01T00:00:10Z")));
        assert_eq!(
            until_available(&p, 10, at("2024-01-01T00:00:04Z")),
            Some(std::time::Duration::from_secs(6))
        );
        let unready = pod("u", None, PodPhase::Running, None);
        assert!(!is_available(&unready, 0, at("2024-01-01T00:00:00Z")));
        let t = from_template(
            &PodTemplateSpec::default(),
            "ns",
            &"x".repeat(70),
            OwnerReference::default(),
        );
        assert!(t.metadata.generate_name.unwrap().len() <= 58);
    }
}
