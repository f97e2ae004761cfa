//! Table cells of the built-in kinds, computed as kubectl's printers do.

use serde_json::{Value, json};

use super::object::{at_path, meta_str};
use super::table::age_of;

fn arr<'a>(obj: &'a Value, path: &str) -> &'a [Value] {
    at_path(obj, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn s<'a>(obj: &'a Value, path: &str) -> Option<&'a str> {
    at_path(obj, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn int(obj: &Value, path: &str) -> i64 {
    at_path(obj, path).and_then(Value::as_i64).unwrap_or(0)
}

fn none_or(v: Option<String>) -> Value {
    json!(
        v.filter(|s| !s.is_empty())
            .unwrap_or_else(|| "<none>".into())
    )
}

/// READY of a pod: ready containers over all.
pub(crate) fn pod_ready(obj: &Value) -> Value {
    let total = arr(obj, "spec.containers").len();
    let ready = arr(obj, "status.containerStatuses")
        .iter()
        .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    json!(format!("{ready}/{total}"))
}

/// STATUS of a pod: the phase, or the reason a container waits or ended, or Terminating.
pub(crate) fn pod_status(obj: &Value) -> Value {
    let mut reason = s(obj, "status.reason")
        .or_else(|| s(obj, "status.phase"))
        .unwrap_or("Pending")
        .to_owned();
    for (i, c) in arr(obj, "status.initContainerStatuses").iter().enumerate() {
        if let Some(t) = c.pointer("/state/terminated") {
            if t.get("exitCode").and_then(Value::as_i64) == Some(0) {
                continue;
            }
            reason = format!(
                "Init:{}",
                t.get("reason").and_then(Value::as_str).unwrap_or("Error")
            );
            return json!(reason);
        }
        if let Some(w) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            if w != "PodInitializing" {
                return json!(format!("Init:{w}"));
            }
        }
        let total = arr(obj, "spec.initContainers").len();
        return json!(format!("Init:{i}/{total}"));
    }
    let mut running = false;
    for c in arr(obj, "status.containerStatuses").iter().rev() {
        if let Some(w) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            reason = w.to_owned();
        } else if let Some(t) = c.pointer("/state/terminated") {
            reason = t
                .get("reason")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    format!(
                        "ExitCode:{}",
                        t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                    )
                });
        } else if c.pointer("/state/running").is_some()
            && c.get("ready").and_then(Value::as_bool) == Some(true)
        {
            running = true;
        }
    }
    if reason == "Completed" && running {
        reason = "Running".into();
    }
    if meta_str(obj, "deletionTimestamp").is_some() {
        reason = if s(obj, "status.reason") == Some("NodeLost") {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    json!(reason)
}

/// RESTARTS of a pod.
pub(crate) fn pod_restarts(obj: &Value) -> Value {
    let n: i64 = arr(obj, "status.containerStatuses")
        .iter()
        .map(|c| c.get("restartCount").and_then(Value::as_i64).unwrap_or(0))
        .sum();
    json!(n)
}

/// IP of a pod.
pub(crate) fn pod_ip(obj: &Value) -> Value {
    none_or(s(obj, "status.podIP").map(str::to_owned))
}

/// NODE of a pod.
pub(crate) fn pod_node(obj: &Value) -> Value {
    none_or(s(obj, "spec.nodeName").map(str::to_owned))
}

/// NOMINATED NODE of a pod.
pub(crate) fn pod_nominated(obj: &Value) -> Value {
    none_or(s(obj, "status.nominatedNodeName").map(str::to_owned))
}

/// READINESS GATES of a pod.
pub(crate) fn pod_gates(obj: &Value) -> Value {
    let gates = arr(obj, "spec.readinessGates");
    if gates.is_empty() {
        return json!("<none>");
    }
    let ready = gates
        .iter()
        .filter(|g| {
            let t = g.get("conditionType");
            arr(obj, "status.conditions").iter().any(|c| {
                c.get("type") == t && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
        .count();
    json!(format!("{ready}/{}", gates.len()))
}

/// STATUS of a node: Ready, NotReady or Unknown, and SchedulingDisabled.
pub(crate) fn node_status(obj: &Value) -> Value {
    let ready = arr(obj, "status.conditions")
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"));
    let mut out = match ready.and_then(|c| c.get("status")).and_then(Value::as_str) {
        Some("True") => "Ready".to_owned(),
        Some("False") => "NotReady".to_owned(),
        _ => "Unknown".to_owned(),
    };
    if at_path(obj, "spec.unschedulable").and_then(Value::as_bool) == Some(true) {
        out.push_str(",SchedulingDisabled");
    }
    json!(out)
}

/// ROLES of a node, from its `node-role.kubernetes.io/*` labels.
pub(crate) fn node_roles(obj: &Value) -> Value {
    let mut roles: Vec<String> = obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("node-role.kubernetes.io/")
                        .map(str::to_owned)
                        .or_else(|| {
                            (k == "kubernetes.io/role").then(|| v.as_str().unwrap_or("").to_owned())
                        })
                })
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    none_or(Some(roles.join(",")))
}

fn node_address(obj: &Value, type_: &str) -> Value {
    none_or(
        arr(obj, "status.addresses")
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(type_))
            .and_then(|a| a.get("address"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    )
}

/// INTERNAL-IP of a node.
pub(crate) fn node_internal_ip(obj: &Value) -> Value {
    node_address(obj, "InternalIP")
}

/// EXTERNAL-IP of a node.
pub(crate) fn node_external_ip(obj: &Value) -> Value {
    node_address(obj, "ExternalIP")
}

/// VERSION of a node.
pub(crate) fn node_version(obj: &Value) -> Value {
    json!(s(obj, "status.nodeInfo.kubeletVersion").unwrap_or(""))
}

/// EXTERNAL-IP of a service.
pub(crate) fn service_external_ip(obj: &Value) -> Value {
    let type_ = s(obj, "spec.type").unwrap_or("ClusterIP");
    let mut ips: Vec<String> = arr(obj, "spec.externalIPs")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    match type_ {
        "ExternalName" => return json!(s(obj, "spec.externalName").unwrap_or("")),
        "LoadBalancer" => {
            ips.extend(
                arr(obj, "status.loadBalancer.ingress")
                    .iter()
                    .filter_map(|i| {
                        i.get("ip")
                            .or_else(|| i.get("hostname"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    }),
            );
            if ips.is_empty() {
                return json!("<pending>");
            }
        }
        _ => {}
    }
    none_or(Some(ips.join(",")))
}

/// PORT(S) of a service.
pub(crate) fn service_ports(obj: &Value) -> Value {
    let ports: Vec<String> = arr(obj, "spec.ports")
        .iter()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64).filter(|n| *n > 0) {
                Some(n) => format!("{port}:{n}/{proto}"),
                None => format!("{port}/{proto}"),
            }
        })
        .collect();
    none_or(Some(ports.join(",")))
}

/// A selector map as `k=v,k2=v2`.
pub(crate) fn service_selector(obj: &Value) -> Value {
    map_selector(at_path(obj, "spec.selector"))
}

fn map_selector(v: Option<&Value>) -> Value {
    let pairs: Vec<String> = v
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    none_or(Some(pairs.join(",")))
}

/// A label selector (`matchLabels` and `matchExpressions`) as a string.
pub(crate) fn label_selector(obj: &Value) -> Value {
    let sel = at_path(obj, "spec.selector");
    let mut parts: Vec<String> = sel
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    for e in sel
        .and_then(|s| s.get("matchExpressions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        parts.push(
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_owned(),
                "DoesNotExist" => format!("!{key}"),
                _ => key.to_owned(),
            },
        );
    }
    none_or(Some(parts.join(",")))
}

/// CONTAINERS of a workload's pod template.
pub(crate) fn template_containers(obj: &Value) -> Value {
    let names: Vec<&str> = arr(obj, "spec.template.spec.containers")
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    json!(names.join(","))
}

/// IMAGES of a workload's pod template.
pub(crate) fn template_images(obj: &Value) -> Value {
    let images: Vec<&str> = arr(obj, "spec.template.spec.containers")
        .iter()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .collect();
    json!(images.join(","))
}

/// READY of a deployment: ready replicas over desired.
pub(crate) fn deployment_ready(obj: &Value) -> Value {
    json!(format!(
        "{}/{}",
        int(obj, "status.readyReplicas"),
        at_path(obj, "spec.replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
    ))
}

/// UP-TO-DATE of a deployment.
pub(crate) fn deployment_updated(obj: &Value) -> Value {
    json!(int(obj, "status.updatedReplicas"))
}

/// AVAILABLE of a deployment.
pub(crate) fn deployment_available(obj: &Value) -> Value {
    json!(int(obj, "status.availableReplicas"))
}

/// DESIRED of a replica set.
pub(crate) fn rs_desired(obj: &Value) -> Value {
    json!(
        at_path(obj, "spec.replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
    )
}

/// CURRENT of a replica set.
pub(crate) fn rs_current(obj: &Value) -> Value {
    json!(int(obj, "status.replicas"))
}

/// READY of a replica set.
pub(crate) fn rs_ready(obj: &Value) -> Value {
    json!(int(obj, "status.readyReplicas"))
}

/// DESIRED of a daemon set.
pub(crate) fn ds_desired(obj: &Value) -> Value {
    json!(int(obj, "status.desiredNumberScheduled"))
}

/// CURRENT of a daemon set.
pub(crate) fn ds_current(obj: &Value) -> Value {
    json!(int(obj, "status.currentNumberScheduled"))
}

/// READY of a daemon set.
pub(crate) fn ds_ready(obj: &Value) -> Value {
    json!(int(obj, "status.numberReady"))
}

/// UP-TO-DATE of a daemon set.
pub(crate) fn ds_updated(obj: &Value) -> Value {
    json!(int(obj, "status.updatedNumberScheduled"))
}

/// AVAILABLE of a daemon set.
pub(crate) fn ds_available(obj: &Value) -> Value {
    json!(int(obj, "status.numberAvailable"))
}

/// NODE SELECTOR of a daemon set.
pub(crate) fn ds_node_selector(obj: &Value) -> Value {
    map_selector(at_path(obj, "spec.template.spec.nodeSelector"))
}

/// STATUS of a job.
pub(crate) fn job_status(obj: &Value) -> Value {
    let conds = arr(obj, "status.conditions");
    let has = |t: &str| {
        conds.iter().any(|c| {
            c.get("type").and_then(Value::as_str) == Some(t)
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
    };
    let out = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if meta_str(obj, "deletionTimestamp").is_some() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else {
        "Running"
    };
    json!(out)
}

/// COMPLETIONS of a job.
pub(crate) fn job_completions(obj: &Value) -> Value {
    let done = int(obj, "status.succeeded");
    match at_path(obj, "spec.completions").and_then(Value::as_i64) {
        Some(c) => json!(format!("{done}/{c}")),
        None => json!(format!(
            "{done}/1 of {}",
            at_path(obj, "spec.parallelism")
                .and_then(Value::as_i64)
                .unwrap_or(1)
        )),
    }
}

/// DURATION of a job.
pub(crate) fn job_duration(obj: &Value) -> Value {
    let start =
        s(obj, "status.startTime").and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let end =
        s(obj, "status.completionTime").and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    match (start, end) {
        (Some(a), Some(b)) => json!(super::table::human_duration((b - a).num_seconds())),
        (Some(a), None) => json!(super::table::human_duration(
            (chrono::Utc::now() - a.with_timezone(&chrono::Utc)).num_seconds()
        )),
        _ => json!(""),
    }
}

/// STATUS of a namespace.
pub(crate) fn namespace_status(obj: &Value) -> Value {
    json!(s(obj, "status.phase").unwrap_or("Active"))
}

/// DATA of a config map or secret: how many keys.
pub(crate) fn data_count(obj: &Value) -> Value {
    let n = ["data", "binaryData", "stringData"]
        .iter()
        .map(|f| {
            obj.get(*f)
                .and_then(Value::as_object)
                .map_or(0, serde_json::Map::len)
        })
        .sum::<usize>();
    json!(n)
}

/// LAST SEEN of an event.
pub(crate) fn event_last_seen(obj: &Value) -> Value {
    age_of(
        s(obj, "lastTimestamp")
            .or_else(|| s(obj, "eventTime"))
            .or_else(|| meta_str(obj, "creationTimestamp")),
    )
}

/// OBJECT of an event: `kind/name`.
pub(crate) fn event_object(obj: &Value) -> Value {
    let kind = s(obj, "involvedObject.kind")
        .unwrap_or("")
        .to_ascii_lowercase();
    json!(format!(
        "{kind}/{}",
        s(obj, "involvedObject.name").unwrap_or("")
    ))
}

/// ENDPOINTS of an Endpoints object: up to three `ip:port`, then `+ N more...`.
pub(crate) fn endpoints_list(obj: &Value) -> Value {
    let mut out = Vec::new();
    for subset in arr(obj, "subsets") {
        let ports: Vec<i64> = subset
            .get("ports")
            .and_then(Value::as_array)
            .map(|p| {
                p.iter()
                    .filter_map(|p| p.get("port").and_then(Value::as_i64))
                    .collect()
            })
            .unwrap_or_default();
        for a in subset
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ip = a.get("ip").and_then(Value::as_str).unwrap_or("");
            if ports.is_empty() {
                out.push(ip.to_owned());
            }
            for p in &ports {
                out.push(format!("{ip}:{p}"));
            }
        }
    }
    if out.is_empty() {
        return json!("<none>");
    }
    let more = out.len().saturating_sub(3);
    out.truncate(3);
    let mut text = out.join(",");
    if more > 0 {
        text.push_str(&format!(" + {more} more..."));
    }
    json!(text)
}

/// ROLE of a role binding: `Kind/name`.
pub(crate) fn binding_role(obj: &Value) -> Value {
    json!(format!(
        "{}/{}",
        s(obj, "roleRef.kind").unwrap_or(""),
        s(obj, "roleRef.name").unwrap_or("")
    ))
}

fn subjects(obj: &Value, kind: &str) -> Value {
    let names: Vec<String> = arr(obj, "subjects")
        .iter()
        .filter(|x| x.get("kind").and_then(Value::as_str) == Some(kind))
        .map(|x| {
            let name = x.get("name").and_then(Value::as_str).unwrap_or("");
            match x
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|_| kind == "ServiceAccount")
            {
                Some(ns) => format!("{ns}/{name}"),
                None => name.to_owned(),
            }
        })
        .collect();
    json!(names.join(", "))
}

/// USERS of a binding.
pub(crate) fn binding_users(obj: &Value) -> Value {
    subjects(obj, "User")
}

/// GROUPS of a binding.
pub(crate) fn binding_groups(obj: &Value) -> Value {
    subjects(obj, "Group")
}

/// SERVICEACCOUNTS of a binding.
pub(crate) fn binding_service_accounts(obj: &Value) -> Value {
    subjects(obj, "ServiceAccount")
}

/// HOLDER of a lease.
pub(crate) fn lease_holder(obj: &Value) -> Value {
    json!(s(obj, "spec.holderIdentity").unwrap_or(""))
}

/// CREATED AT: the creation timestamp itself.
pub(crate) fn created_at(obj: &Value) -> Value {
    json!(meta_str(obj, "creationTimestamp").unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_cells() {
        let pod = json!({
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
                {"ready": true, "restartCount": 1, "state": {"running": {}}},
                {"ready": false, "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]}
        });
        assert_eq!(pod_ready(&pod), "1/2");
        assert_eq!(pod_restarts(&pod), 3);
        assert_eq!(pod_status(&pod), "CrashLoopBackOff");
        assert_eq!(pod_ip(&pod), "10.0.0.5");
        assert_eq!(pod_node(&json!({})), "<none>");
        let mut deleting = pod;
        deleting["metadata"] = json!({"deletionTimestamp": "2024-01-01T00:00:00Z"});
        assert_eq!(pod_status(&deleting), "Terminating");
    }

    #[test]
    fn service_and_node_cells() {
        let svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}});
        assert_eq!(service_ports(&svc), "80:30080/TCP,53/UDP");
        assert_eq!(service_external_ip(&svc), "<none>");
        assert_eq!(
            service_external_ip(&json!({"spec": {"type": "LoadBalancer"}})),
            "<pending>"
        );
        let node = json!({"metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": true}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(node_status(&node), "Ready,SchedulingDisabled");
        assert_eq!(node_roles(&node), "control-plane");
        let ep = json!({"subsets": [{"addresses": [{"ip": "1.1.1.1"}, {"ip": "2.2.2.2"}], "ports": [{"port": 80}, {"port": 443}]}]});
        assert_eq!(
            endpoints_list(&ep),
            "1.1.1.1:80,1.1.1.1:443,2.2.2.2:80 + 1 more..."
        );
        assert_eq!(
            label_selector(&json!({"spec": {"selector": {"matchLabels": {"app": "web"}}}})),
            "app=web"
        );
    }
}
