//! How a pod's container becomes a runtime [`ContainerConfig`]: `$(VAR)` expansion,
//! environment (literal values and the pod fields `valueFrom` may name), resources as
//! cgroup settings, labels and log path.

use std::collections::HashMap;

use kube_core::runtime::{ContainerConfig, ContainerMetadata, ContainerResources, Labels};
use kube_core::{Container, Pod};

use super::labels;

/// Expands `$(NAME)` references to earlier variables, as Kubernetes does: `$$` escapes a
/// `$`, and an unknown reference stays as written.
pub(crate) fn expand(input: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The value a `valueFrom.fieldRef` names, for the fields the node agent knows.
fn field_ref(pod: &Pod, path: &str, pod_ip: &str, host_ip: &str) -> Option<String> {
    Some(match path {
        "metadata.name" => pod.metadata.name.clone()?,
        "metadata.namespace" => pod.metadata.namespace.clone()?,
        "metadata.uid" => pod.metadata.uid.clone()?,
        "spec.nodeName" => pod.spec.node_name.clone()?,
        "spec.serviceAccountName" => pod.spec.service_account_name.clone()?,
        "status.podIP" => pod_ip.to_owned(),
        "status.hostIP" => host_ip.to_owned(),
        _ => {
            let key = path
                .strip_prefix("metadata.labels['")
                .map(|k| (k, &pod.metadata.labels))
                .or_else(|| {
                    path.strip_prefix("metadata.annotations['")
                        .map(|k| (k, &pod.metadata.annotations))
                });
            let (k, map) = key?;
            map.get(k.strip_suffix("']")?)?.clone()
        }
    })
}

/// The environment of a container, in order, with references expanded.
pub(crate) fn environment(
    pod: &Pod,
    container: &Container,
    pod_ip: &str,
    host_ip: &str,
) -> Vec<(String, String)> {
    let mut vars: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for var in &container.env {
        let value = match (&var.value, &var.value_from) {
            (Some(v), _) => expand(v, &vars),
            (None, Some(from)) => from
                .pointer("/fieldRef/fieldPath")
                .and_then(serde_json::Value::as_str)
                .and_then(|p| field_ref(pod, p, pod_ip, host_ip))
                .unwrap_or_default(),
            (None, None) => String::new(),
        };
        vars.insert(var.name.clone(), value.clone());
        out.push((var.name.clone(), value));
    }
    out
}

/// cgroup settings from the container's requests and limits.
pub(crate) fn resources(container: &Container) -> ContainerResources {
    let r = &container.resources;
    let mut out = ContainerResources::default();
    if let Some(cpu) = r.effective_request("cpu") {
        // 1024 shares per core, at least 2 (the kernel's minimum).
        out.cpu_shares = Some(u64::try_from((cpu.milli_value() * 1024 / 1000).max(2)).unwrap_or(2));
    }
    if let Some(limit) = r.limits.get("cpu") {
        let period: i64 = 100_000;
        out.cpu_period = Some(100_000);
        out.cpu_quota = Some((limit.milli_value() * period / 1000).max(1000));
    }
    if let Some(mem) = r.limits.get("memory") {
        out.memory_limit_bytes = Some(mem.value());
    }
    out
}

/// The runtime configuration of one attempt of a container.
pub(crate) fn container_config(
    pod: &Pod,
    container: &Container,
    attempt: u32,
    image_ref: &str,
    pod_ip: &str,
    host_ip: &str,
) -> ContainerConfig {
    let envs = environment(pod, container, pod_ip, host_ip);
    let vars: HashMap<String, String> = envs.iter().cloned().collect();
    let mut annotations = Labels::new();
    annotations.insert(labels::RESTART_COUNT.into(), attempt.to_string());
    ContainerConfig {
        metadata: ContainerMetadata {
            name: container.name.clone(),
            attempt,
        },
        image: image_ref.to_owned(),
        command: container.command.iter().map(|s| expand(s, &vars)).collect(),
        args: container.args.iter().map(|s| expand(s, &vars)).collect(),
        working_dir: container.working_dir.clone().unwrap_or_default(),
        envs,
        mounts: Vec::new(),
        log_path: format!("{}/{attempt}.log", container.name),
        resources: resources(container),
        stdin: container.stdin,
        tty: container.tty,
        labels: labels::container_labels(pod, &container.name),
        annotations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_expand_like_kubernetes() {
        let vars = HashMap::from([("A".to_owned(), "x".to_owned())]);
        assert_eq!(expand("$(A)-$(B)-$$(A)-$A-$(", &vars), "x-$(B)-$(A)-$A-$(");
    }

    #[test]
    fn a_container_becomes_a_runtime_config() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{
                "name": "app", "image": "busybox", "command": ["echo", "$(GREETING)"], "args": ["$(POD)"],
                "env": [
                    {"name": "GREETING", "value": "hello"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "BOTH", "value": "$(GREETING) $(POD)"}
                ],
                "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "64Mi"}}
            }]}
        }))
        .unwrap();
        let c = container_config(
            &pod,
            &pod.spec.containers[0],
            2,
            "ref",
            "10.0.0.9",
            "192.0.2.1",
        );
        assert_eq!(c.command, ["echo", "hello"]);
        assert_eq!(c.args, ["p"]);
        let env: HashMap<_, _> = c.envs.iter().cloned().collect();
        assert_eq!(env["IP"], "10.0.0.9");
        assert_eq!(env["APP"], "web");
        assert_eq!(env["BOTH"], "hello p");
        assert_eq!(c.log_path, "app/2.log");
        assert_eq!(c.labels[labels::POD_UID], "u1");
        assert_eq!(c.labels[labels::CONTAINER_NAME], "app");
        assert_eq!(c.resources.cpu_shares, Some(256));
        assert_eq!(
            (c.resources.cpu_quota, c.resources.cpu_period),
            (Some(50_000), Some(100_000))
        );
        assert_eq!(c.resources.memory_limit_bytes, Some(64 << 20));
    }
}
