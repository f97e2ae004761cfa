//! The taints the node controllers manage, and what a pod's tolerations say about them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kube_core::{Pod, Taint, TaintEffect, Time, Toleration};

/// `node.kubernetes.io/not-ready`: the node reports Ready=False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// `node.kubernetes.io/unreachable`: the node stopped reporting (Ready=Unknown).
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `node.kubernetes.io/unschedulable`: the node is cordoned.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// `node.kubernetes.io/memory-pressure`.
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// `node.kubernetes.io/disk-pressure`.
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// `node.kubernetes.io/pid-pressure`.
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// `node.kubernetes.io/network-unavailable`.
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// The taint keys the node lifecycle controller owns.
pub(crate) const MANAGED: [&str; 7] = [
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
    TAINT_MEMORY_PRESSURE,
    TAINT_DISK_PRESSURE,
    TAINT_PID_PRESSURE,
    TAINT_NETWORK_UNAVAILABLE,
];

/// A taint with this key and effect, added now.
pub(crate) fn taint(key: &str, effect: TaintEffect) -> Taint {
    Taint {
        key: key.to_owned(),
        value: None,
        effect,
        time_added: Some(Time::now()),
    }
}

/// Replaces the managed taints of `current` with `wanted`, keeping the time a taint that
/// stays was added, and every taint someone else manages. `None` when nothing changes.
pub(crate) fn reconcile_taints(current: &[Taint], wanted: &[Taint]) -> Option<Vec<Taint>> {
    let same = |a: &Taint, b: &Taint| a.key == b.key && a.effect == b.effect;
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| !MANAGED.contains(&t.key.as_str()))
        .cloned()
        .collect();
    for w in wanted {
        match current.iter().find(|c| same(c, w)) {
            Some(existing) => out.push(existing.clone()),
            None => out.push(w.clone()),
        }
    }
    let unchanged = out.len() == current.len() && out.iter().all(|o| current.contains(o));
    (!unchanged).then_some(out)
}

/// When a pod on a node with these `NoExecute` taints must be evicted: `Some(now or
/// earlier)` when a taint is not tolerated, `Some(t)` when every taint is tolerated for a
/// while (the earliest end), `None` when tolerated forever.
pub(crate) fn eviction_time(
    pod: &Pod,
    taints: &[Taint],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut earliest: Option<DateTime<Utc>> = None;
    for taint in taints.iter().filter(|t| t.effect == TaintEffect::NoExecute) {
        let matching: Vec<&Toleration> = pod
            .spec
            .tolerations
            .iter()
            .filter(|t| t.tolerates(taint))
            .collect();
        if matching.is_empty() {
            return Some(now);
        }
        // Tolerated forever when any matching toleration has no limit.
        if matching.iter().any(|t| t.toleration_seconds.is_none()) {
            continue;
        }
        let seconds = matching
            .iter()
            .filter_map(|t| t.toleration_seconds)
            .min()
            .unwrap_or(0)
            .max(0);
        let since = taint.time_added.map_or(now, |t| t.0);
        let at = since + chrono::Duration::seconds(seconds);
        earliest = Some(earliest.map_or(at, |e| e.min(at)));
    }
    earliest
}

/// The time until `at`, zero if it has passed.
pub(crate) fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use kube_core::TolerationOperator;

    use super::*;

    fn toleration(key: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some(TolerationOperator::Exists),
            effect: Some(TaintEffect::NoExecute),
            value: None,
            toleration_seconds: seconds,
        }
    }

    #[test]
    fn eviction_follows_the_tolerations() {
        // Taints carry whole seconds.
        let now = Time::now().0;
        let mut unreachable = taint(TAINT_UNREACHABLE, TaintEffect::NoExecute);
        unreachable.time_added = Some(Time::from(now));
        let taints = [unreachable, taint("other", TaintEffect::NoSchedule)];
        let mut pod = Pod::default();
        assert_eq!(
            eviction_time(&pod, &taints, now),
            Some(now),
            "not tolerated"
        );
        pod.spec.tolerations = vec![toleration(TAINT_UNREACHABLE, Some(30))];
        let at = eviction_time(&pod, &taints, now).unwrap();
        assert_eq!((at - now).num_seconds(), 30);
        pod.spec
            .tolerations
            .push(toleration(TAINT_UNREACHABLE, Some(10)));
        let at = eviction_time(&pod, &taints, now).unwrap();
        assert_eq!((at - now).num_seconds(), 10, "the shortest toleration");
        pod.spec.tolerations = vec![toleration(TAINT_UNREACHABLE, None)];
        assert_eq!(eviction_time(&pod, &taints, now), None, "tolerated forever");
    }

    #[test]
    fn managed_taints_are_replaced_and_others_kept() {
        let keep = taint("example.com/dedicated", TaintEffect::NoSchedule);
        let old = taint(TAINT_NOT_READY, TaintEffect::NoExecute);
        let current = vec![keep.clone(), old];
        let wanted = vec![taint(TAINT_UNREACHABLE, TaintEffect::NoExecute)];
        let out = reconcile_taints(&current, &wanted).unwrap();
        let keys: Vec<&str> = out.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, [keep.key.as_str(), TAINT_UNREACHABLE]);
        assert_eq!(reconcile_taints(&out, &wanted), None, "already so");
    }
}
