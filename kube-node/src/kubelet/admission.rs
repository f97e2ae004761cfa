//! Admission on the node: a pod that does not fit what is left of the node's allocatable
//! resources (or whose node selector the node does not match) is rejected with a reason,
//! as Kubernetes' kubelet does, and never started.

use std::collections::BTreeMap;

use kube_core::{Pod, PodRequests, ResourceList};

use super::pod_status::Waiting;

/// Whether `pod` may run beside the pods already admitted (`used`: their requests, and
/// their count).
pub(crate) fn admit(
    pod: &Pod,
    node_labels: &BTreeMap<String, String>,
    allocatable: &ResourceList,
    used: &PodRequests,
    used_pods: i64,
) -> Result<(), Waiting> {
    for (k, v) in &pod.spec.node_selector {
        if node_labels.get(k) != Some(v) {
            return Err(Waiting {
                reason: "NodeAffinity".into(),
                message: "Pod was rejected: Predicate NodeAffinity failed".into(),
            });
        }
    }
    let capacity = PodRequests::from(allocatable);
    let wanted = pod.resource_requests();
    let reject = |name: &str, requested: i64, used: i64, capacity: i64| Waiting {
        reason: format!("OutOf{name}"),
        message: format!(
            "Pod was rejected: Node didn't have enough resource: {name}, requested: {requested}, used: {used}, capacity: {capacity}"
        ),
    };
    if let Some(pods) = allocatable.get("pods") {
        if used_pods + 1 > pods.value() {
            return Err(Waiting {
                reason: "OutOfpods".into(),
                message: format!(
                    "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: {used_pods}, capacity: {}",
                    pods.value()
                ),
            });
        }
    }
    let checks = [
        (
            "cpu",
            wanted.milli_cpu,
            used.milli_cpu,
            capacity.milli_cpu,
            allocatable.contains_key("cpu"),
        ),
        (
            "memory",
            wanted.memory,
            used.memory,
            capacity.memory,
            allocatable.contains_key("memory"),
        ),
        (
            "ephemeral-storage",
            wanted.ephemeral_storage,
            used.ephemeral_storage,
            capacity.ephemeral_storage,
            allocatable.contains_key("ephemeral-storage"),
        ),
    ];
    for (name, requested, in_use, cap, known) in checks {
        if requested > 0 && known && in_use + requested > cap {
            return Err(reject(name, requested, in_use, cap));
        }
    }
    for (name, requested) in &wanted.scalar {
        if *requested <= 0 || name == "pods" {
            continue;
        }
        let cap = capacity.scalar.get(name).copied().unwrap_or(0);
        let in_use = used.scalar.get(name).copied().unwrap_or(0);
        if in_use + requested > cap {
            return Err(reject(name, *requested, in_use, cap));
        }
    }
    Ok(())
}

/// Adds one pod's requests to a running total.
pub(crate) fn add(total: &mut PodRequests, r: &PodRequests) {
    total.milli_cpu += r.milli_cpu;
    total.memory += r.memory;
    total.ephemeral_storage += r.ephemeral_storage;
    for (k, v) in &r.scalar {
        *total.scalar.entry(k.clone()).or_default() += v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(cpu: &str, selector: &serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"spec": {"nodeSelector": selector,
            "containers": [{"name": "a", "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]}}))
        .unwrap()
    }

    fn alloc() -> ResourceList {
        ResourceList::from([
            ("cpu".to_owned(), "2".parse().unwrap()),
            ("memory".to_owned(), "4Gi".parse().unwrap()),
            ("pods".to_owned(), "3".parse().unwrap()),
        ])
    }

    #[test]
    fn pods_that_do_not_fit_are_rejected_with_kubernetes_reasons() {
        let labels = BTreeMap::from([("disk".to_owned(), "ssd".to_owned())]);
        let mut used = PodRequests::default();
        assert!(
            admit(
                &pod("1", &serde_json::json!({})),
                &labels,
                &alloc(),
                &used,
                0
            )
            .is_ok()
        );
        add(
            &mut used,
            &pod("1500m", &serde_json::json!({})).resource_requests(),
        );
        let err = admit(
            &pod("1", &serde_json::json!({})),
            &labels,
            &alloc(),
            &used,
            1,
        )
        .unwrap_err();
        assert_eq!(err.reason, "OutOfcpu");
        assert_eq!(
            err.message,
            "Pod was rejected: Node didn't have enough resource: cpu, requested: 1000, used: 1500, capacity: 2000"
        );
        let err = admit(
            &pod("100m", &serde_json::json!({})),
            &labels,
            &alloc(),
            &used,
            3,
        )
        .unwrap_err();
        assert_eq!(err.reason, "OutOfpods");
        let err = admit(
            &pod("100m", &serde_json::json!({"disk": "hdd"})),
            &labels,
            &alloc(),
            &used,
            1,
        )
        .unwrap_err();
        assert_eq!(err.reason, "NodeAffinity");
        assert!(
            admit(
                &pod("100m", &serde_json::json!({"disk": "ssd"})),
                &labels,
                &alloc(),
                &used,
                1
            )
            .is_ok()
        );
        let gpu: Pod = serde_json::from_value(serde_json::json!({"spec": {"containers": [
            {"name": "a", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}))
        .unwrap();
        assert_eq!(
            admit(&gpu, &labels, &alloc(), &used, 0).unwrap_err().reason,
            "OutOfnvidia.com/gpu"
        );
    }
}
