//! `Indexed` Jobs: each of `completions` indexes must succeed once. A pod carries its
//! index in an annotation and a label, sees it as `JOB_COMPLETION_INDEX`, and is named
//! and hostnamed after it; the Job lists the indexes that succeeded in
//! `status.completedIndexes`, as ranges (`"0-2,5"`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use kube_core::{EnvVar, Pod};

use crate::controllers::pods;

/// The annotation and label that carry a pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// The environment variable in which every container of an indexed pod sees its index.
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// A pod's completion index: its annotation, or its label, read as a number.
pub(crate) fn index_of(pod: &Pod) -> Option<i32> {
    pod.metadata
        .annotations
        .get(COMPLETION_INDEX)
        .or_else(|| pod.metadata.labels.get(COMPLETION_INDEX))
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|i| *i >= 0)
}

/// The pod for `index` of the Job `job_name`, from the pod made from its template: the
/// index in an annotation and a label, in `JOB_COMPLETION_INDEX` (read from the
/// annotation, as Kubernetes does, so the pod shows where it comes from), a name
/// `<job>-<index>-<random>` and, unless the template sets one, the hostname
/// `<job>-<index>`.
pub(crate) fn pod_for_index(mut pod: Pod, job_name: &str, index: i32) -> Pod {
    let value = index.to_string();
    pod.metadata
        .annotations
        .insert(COMPLETION_INDEX.to_owned(), value.clone());
    pod.metadata
        .labels
        .insert(COMPLETION_INDEX.to_owned(), value.clone());
    let env = EnvVar {
        name: COMPLETION_INDEX_ENV.to_owned(),
        value: None,
        value_from: Some(serde_json::json!({"fieldRef": {
            "fieldPath": format!("metadata.annotations['{COMPLETION_INDEX}']"),
        }})),
    };
    for c in pod
        .spec
        .init_containers
        .iter_mut()
        .chain(pod.spec.containers.iter_mut())
    {
        if !c.env.iter().any(|e| e.name == COMPLETION_INDEX_ENV) {
            c.env.push(env.clone());
        }
    }
    let prefix = format!("{job_name}-{value}");
    if pod.spec.hostname.is_none() {
        // A hostname is a DNS label: 63 characters at most.
        let hostname = pods::cut(&prefix, 63).trim_end_matches('-');
        pod.spec.hostname = Some(hostname.to_owned());
    }
    pod.metadata.generate_name = Some(pods::generate_name(&prefix));
    pod
}

/// A set of indexes, written as Kubernetes writes them: ascending ranges, `"1,3-5,7"`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Indexes(BTreeSet<i32>);

impl Indexes {
    /// The indexes below `completions` of a written set; anything else is dropped.
    pub(crate) fn parse(text: Option<&str>, completions: i32) -> Self {
        let mut set = BTreeSet::new();
        for part in text.unwrap_or_default().split(',').map(str::trim) {
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
                None => (part.parse::<i32>(), part.parse::<i32>()),
            };
            let (Ok(first), Ok(last)) = (first, last) else {
                continue;
            };
            set.extend(first.max(0)..=last.min(completions.saturating_sub(1)));
        }
        Self(set)
    }

    /// Adds an index; true when it was not there.
    pub(crate) fn insert(&mut self, index: i32) -> bool {
        self.0.insert(index)
    }

    /// Whether the set holds `index`.
    pub(crate) fn contains(&self, index: i32) -> bool {
        self.0.contains(&index)
    }

    /// How many indexes the set holds.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The written form, or `None` for the empty set.
    pub(crate) fn written(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.to_string())
    }
}

impl fmt::Display for Indexes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut iter = self.0.iter().copied().peekable();
        let mut first = true;
        while let Some(start) = iter.next() {
            let mut end = start;
            while iter.peek() == Some(&(end + 1)) {
                end += 1;
                iter.next();
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if end == start {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

/// The active pods of an indexed Job sorted out: one pod kept per index that still
/// needs one; the others (no index, an index out of range or already completed, a second
/// pod for an index) to delete.
pub(crate) struct Sorted {
    /// The pod kept for each index.
    pub(crate) kept: BTreeMap<i32, Arc<Pod>>,
    /// The pods to delete.
    pub(crate) extra: Vec<Arc<Pod>>,
}

/// Sorts out the active pods: see [`Sorted`]. Of two pods for one index, the older is
/// kept.
pub(crate) fn sort_active(active: &[Arc<Pod>], completed: &Indexes, completions: i32) -> Sorted {
    let mut by_age: Vec<&Arc<Pod>> = active.iter().collect();
    by_age.sort_by_key(|p| p.metadata.creation_timestamp);
    let mut kept = BTreeMap::new();
    let mut extra = Vec::new();
    for pod in by_age {
        match index_of(pod) {
            Some(i) if i < completions && !completed.contains(i) && !kept.contains_key(&i) => {
                kept.insert(i, pod.clone());
            }
            _ => extra.push(pod.clone()),
        }
    }
    Sorted { kept, extra }
}

/// The lowest `n` indexes below `completions` that have neither succeeded nor a pod.
pub(crate) fn missing(
    completed: &Indexes,
    kept: &BTreeMap<i32, Arc<Pod>>,
    completions: i32,
    n: usize,
) -> Vec<i32> {
    (0..completions)
        .filter(|i| !completed.contains(*i) && !kept.contains_key(i))
        .take(n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_sets_read_and_write_ranges() {
        let set = Indexes::parse(Some("0-2,5,7-8"), 10);
        assert_eq!(set.to_string(), "0-2,5,7-8");
        assert_eq!(set.len(), 6);
        let mut set = Indexes::parse(None, 10);
        assert_eq!(set.written(), None);
        for i in [4, 1, 2, 9, 3] {
            assert!(set.insert(i));
        }
        assert!(!set.insert(3));
        assert_eq!(set.written().as_deref(), Some("1-4,9"));
        // Out of range or unreadable parts are dropped.
        assert_eq!(Indexes::parse(Some("3-12,x,-1,20"), 5).to_string(), "3-4");
        // No completions (or a nonsense count) holds no index, and does not overflow.
        for completions in [0, -5, i32::MIN] {
            assert_eq!(Indexes::parse(Some("0-3"), completions).len(), 0);
        }
    }

    fn pod(index: Option<&str>, created: i64) -> Arc<Pod> {
        let mut p = Pod::default();
        if let Some(i) = index {
            p.metadata
                .annotations
                .insert(COMPLETION_INDEX.into(), i.into());
        }
        p.metadata.creation_timestamp =
            chrono::DateTime::from_timestamp(created, 0).map(kube_core::Time::from);
        Arc::new(p)
    }

    #[test]
    fn one_pod_is_kept_per_index_still_needed() {
        let completed = Indexes::parse(Some("1"), 4);
        let active = [
            pod(Some("0"), 20),
            pod(Some("0"), 10),
            pod(Some("1"), 10),
            pod(Some("7"), 10),
            pod(None, 10),
            pod(Some("x"), 10),
            pod(Some("3"), 10),
        ];
        let sorted = sort_active(&active, &completed, 4);
        assert_eq!(sorted.kept.keys().copied().collect::<Vec<_>>(), [0, 3]);
        assert!(
            Arc::ptr_eq(&sorted.kept[&0], &active[1]),
            "the older is kept"
        );
        assert_eq!(sorted.extra.len(), 5);
        assert_eq!(missing(&completed, &sorted.kept, 4, 5), [2]);
        assert_eq!(missing(&Indexes::default(), &BTreeMap::new(), 4, 2), [0, 1]);
    }

    #[test]
    fn an_indexed_pod_carries_its_index() {
        let mut template = Pod::default();
        template.spec.containers.push(kube_core::Container {
            name: "work".into(),
            ..Default::default()
        });
        let p = pod_for_index(template, "batch", 3);
        assert_eq!(p.metadata.annotations[COMPLETION_INDEX], "3");
        assert_eq!(p.metadata.labels[COMPLETION_INDEX], "3");
        assert_eq!(p.metadata.generate_name.as_deref(), Some("batch-3-"));
        assert_eq!(p.spec.hostname.as_deref(), Some("batch-3"));
        let env = &p.spec.containers[0].env[0];
        assert_eq!(env.name, COMPLETION_INDEX_ENV);
        assert_eq!(
            env.value_from.as_ref().unwrap()["fieldRef"]["fieldPath"],
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        );
        assert_eq!(index_of(&p), Some(3));
    }
}
