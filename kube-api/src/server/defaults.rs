//! Defaulting of the built-in kinds, as Kubernetes' defaulters and registry strategies
//! do it (the parts our components rely on). Their validation is in `kind_validation.rs`.

use serde_json::{Map, Value, json};

use super::object::{at_path, meta_str, set_path};

/// Sets `path` (dotted) to the value `default` builds, unless it is set already. The value
/// is built only when it is needed: an object read back and written again (every status
/// write) has all its defaults, and checking them costs no allocation.
fn set_default(obj: &mut Value, path: &str, default: impl FnOnce() -> Value) {
    if at_path(obj, path).is_none_or(Value::is_null) {
        set_path(obj, path, default());
    }
}

/// Calls `f` on each element of the array at `pointer`, when there is one.
pub(crate) fn each_mut(obj: &mut Value, pointer: &str, mut f: impl FnMut(&mut Value)) {
    if let Some(Value::Array(items)) = obj.pointer_mut(pointer) {
        items.iter_mut().for_each(&mut f);
    }
}

/// Defaults of a pod spec at `base` (`""` for a pod, `/spec/template` for workloads).
pub(crate) fn default_pod_spec(obj: &mut Value, base: &str) {
    let Some(spec) = obj.pointer_mut(&format!("{base}/spec")) else {
        return;
    };
    set_default(spec, "restartPolicy", || json!("Always"));
    set_default(spec, "dnsPolicy", || json!("ClusterFirst"));
    set_default(spec, "schedulerName", || json!("default-scheduler"));
    set_default(spec, "terminationGracePeriodSeconds", || json!(30));
    set_default(spec, "securityContext", || json!({}));
    set_default(spec, "enableServiceLinks", || json!(true));
    for list in ["/containers", "/initContainers"] {
        each_mut(spec, list, |c| {
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let last = image.rsplit('/').next().unwrap_or("");
            let tagged = last.contains(':') && !last.ends_with(":latest");
            let policy = if tagged || image.contains('@') {
                "IfNotPresent"
            } else {
                "Always"
            };
            set_default(c, "imagePullPolicy", || json!(policy));
            set_default(c, "terminationMessagePath", || {
                json!("/dev/termination-log")
            });
            set_default(c, "terminationMessagePolicy", || json!("File"));
            set_default(c, "resources", || json!({}));
            each_mut(c, "/ports", |p| set_default(p, "protocol", || json!("TCP")));
        });
    }
}

/// Pod defaults; on create also the initial status.
pub(crate) fn default_pod(obj: &mut Value) {
    default_pod_spec(obj, "");
    default_toleration_seconds(obj);
    default_pod_status(obj);
}

/// The defaults of a pod's status: its phase, and its QoS class (from its spec).
pub(crate) fn default_pod_status(obj: &mut Value) {
    set_default(obj, "status.phase", || json!("Pending"));
    let qos = qos_class(obj);
    set_default(obj, "status.qosClass", || json!(qos));
}

/// How long a pod stays on a node that went not-ready or unreachable, unless it says
/// otherwise (Kubernetes' DefaultTolerationSeconds admission plugin, 300 s).
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Adds Kubernetes' default tolerations of the `not-ready` and `unreachable` NoExecute
/// taints to a pod that tolerates neither, so that a node's short outage does not evict
/// every pod at once.
fn default_toleration_seconds(pod: &mut Value) {
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let tolerated = at_path(pod, "spec.tolerations")
            .and_then(Value::as_array)
            .is_some_and(|ts| ts.iter().any(|t| tolerates_no_execute(t, key)));
        if tolerated {
            continue;
        }
        let toleration = json!({
            "key": key,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
        });
        match pod.pointer_mut("/spec/tolerations") {
            Some(Value::Array(ts)) => ts.push(toleration),
            _ => set_path(pod, "spec.tolerations", json!([toleration])),
        }
    }
}

/// Whether a toleration tolerates the NoExecute taint `key` (whatever its value).
fn tolerates_no_execute(toleration: &Value, key: &str) -> bool {
    let field = |name: &str| toleration.get(name).and_then(Value::as_str).unwrap_or("");
    let effect_matches = matches!(field("effect"), "" | "NoExecute");
    let key_matches = match field("key") {
        "" => field("operator") == "Exists",
        k => k == key,
    };
    effect_matches && key_matches
}

fn qos_class(pod: &Value) -> &'static str {
    let containers = at_path(pod, "spec.containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in &containers {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        if req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        let full = lim.is_some_and(|l| l.contains_key("cpu") && l.contains_key("memory"))
            && req.is_none_or(|r| r.iter().all(|(k, v)| lim.and_then(|l| l.get(k)) == Some(v)));
        guaranteed &= full;
    }
    if guaranteed {
        "Guaranteed"
    } else if any {
        "Burstable"
    } else {
        "BestEffort"
    }
}

/// Deployment defaults.
pub(crate) fn default_deployment(obj: &mut Value) {
    set_default(obj, "spec.replicas", || json!(1));
    set_default(obj, "spec.revisionHistoryLimit", || json!(10));
    set_default(obj, "spec.progressDeadlineSeconds", || json!(600));
    set_default(obj, "spec.strategy.type", || json!("RollingUpdate"));
    if at_path(obj, "spec.strategy.type").and_then(Value::as_str) == Some("RollingUpdate") {
        set_default(obj, "spec.strategy.rollingUpdate.maxUnavailable", || {
            json!("25%")
        });
        set_default(obj, "spec.strategy.rollingUpdate.maxSurge", || json!("25%"));
    }
    default_pod_spec(obj, "/spec/template");
}

/// ReplicaSet defaults.
pub(crate) fn default_replica_set(obj: &mut Value) {
    set_default(obj, "spec.replicas", || json!(1));
    default_pod_spec(obj, "/spec/template");
}

/// DaemonSet defaults.
pub(crate) fn default_daemon_set(obj: &mut Value) {
    set_default(obj, "spec.revisionHistoryLimit", || json!(10));
    set_default(obj, "spec.updateStrategy.type", || json!("RollingUpdate"));
    if at_path(obj, "spec.updateStrategy.type").and_then(Value::as_str) == Some("RollingUpdate") {
        set_default(
            obj,
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
            || json!(1),
        );
        set_default(obj, "spec.updateStrategy.rollingUpdate.maxSurge", || {
            json!(0)
        });
    }
    default_pod_spec(obj, "/spec/template");
}

/// Job defaults, including the generated selector tied to the job's uid. As in
/// Kubernetes, `completions` defaults to 1 only when `parallelism` is not set either: a
/// Job with only `parallelism` is a work queue, done at its first success.
pub(crate) fn default_job(obj: &mut Value) {
    if at_path(obj, "spec.parallelism").is_none() {
        set_default(obj, "spec.completions", || json!(1));
    }
    set_default(obj, "spec.parallelism", || json!(1));
    set_default(obj, "spec.backoffLimit", || json!(6));
    set_default(obj, "spec.completionMode", || json!("NonIndexed"));
    set_default(obj, "spec.suspend", || json!(false));
    let manual = at_path(obj, "spec.manualSelector").and_then(Value::as_bool) == Some(true);
    if !manual && at_path(obj, "spec.selector").is_none() {
        if let (Some(uid), Some(name)) = (
            meta_str(obj, "uid").map(str::to_owned),
            meta_str(obj, "name").map(str::to_owned),
        ) {
            set_path(
                obj,
                "spec.selector",
                json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
            );
            for (k, v) in [
                ("batch.kubernetes.io/controller-uid", uid.clone()),
                ("controller-uid", uid),
                ("batch.kubernetes.io/job-name", name.clone()),
                ("job-name", name),
            ] {
                let labels = obj.pointer_mut("/spec/template/metadata/labels");
                match labels {
                    Some(Value::Object(m)) => {
                        m.entry(k).or_insert(json!(v));
                    }
                    _ => set_path(obj, "spec.template.metadata.labels", json!({k: v})),
                }
            }
        }
    }
    default_pod_spec(obj, "/spec/template");
}

/// Service defaults.
pub(crate) fn default_service(obj: &mut Value) {
    set_default(obj, "spec.type", || json!("ClusterIP"));
    set_default(obj, "spec.sessionAffinity", || json!("None"));
    if at_path(obj, "spec.type").and_then(Value::as_str) != Some("ExternalName") {
        set_default(obj, "spec.ipFamilies", || json!(["IPv4"]));
        set_default(obj, "spec.ipFamilyPolicy", || json!("SingleStack"));
        set_default(obj, "spec.internalTrafficPolicy", || json!("Cluster"));
    }
    each_mut(obj, "/spec/ports", |p| {
        set_default(p, "protocol", || json!("TCP"));
        if let Some(port) = p.get("port").cloned() {
            // Go clients send an unset IntOrString as 0 (and protobuf as an empty one):
            // Kubernetes treats both as unset and defaults them to the port.
            let unset = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(s)) => s.is_empty(),
                Some(_) => false,
            };
            if unset {
                set_path(p, "targetPort", port);
            }
        }
    });
}

/// Namespace defaults.
pub(crate) fn default_namespace(obj: &mut Value) {
    set_default(obj, "spec.finalizers", || json!(["kubernetes"]));
    set_default(obj, "status.phase", || json!("Active"));
    if let Some(name) = meta_str(obj, "name").map(str::to_owned) {
        let labels = obj.pointer_mut("/metadata/labels");
        match labels {
            Some(Value::Object(m)) => {
                m.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            _ => set_path(
                obj,
                "metadata.labels",
                json!({"kubernetes.io/metadata.name": name}),
            ),
        }
    }
}

/// Secret defaults: type Opaque, `stringData` folded into base64 `data`.
pub(crate) fn default_secret(obj: &mut Value) {
    use base64::Engine as _;
    set_default(obj, "type", || json!("Opaque"));
    if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
        let mut data = obj
            .get("data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(Map::new);
        for (k, v) in sd {
            let text = v.as_str().unwrap_or("").to_owned();
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
        if let Some(m) = obj.as_object_mut() {
            m.insert("data".into(), Value::Object(data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_the_default_not_ready_and_unreachable_tolerations() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
        default_pod(&mut pod);
        let ts = pod["spec"]["tolerations"].as_array().unwrap().clone();
        assert_eq!(ts.len(), 2);
        assert_eq!(ts[0]["key"], "node.kubernetes.io/not-ready");
        assert_eq!(ts[1]["tolerationSeconds"], 300);
        // Defaulting again adds nothing.
        default_pod(&mut pod);
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 2);

        // A pod that tolerates the taint its own way keeps its toleration only.
        let mut own = json!({"spec": {"containers": [{"name": "a", "image": "x"}],
            "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                              "effect": "NoExecute", "tolerationSeconds": 5}]}});
        default_pod(&mut own);
        let ts = own["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(ts.len(), 2);
        assert_eq!(ts[0]["tolerationSeconds"], 5);
        assert_eq!(ts[1]["key"], "node.kubernetes.io/not-ready");

        // Tolerating everything tolerates both.
        let mut all = json!({"spec": {"containers": [{"name": "a", "image": "x"}],
            "tolerations": [{"operator": "Exists"}]}});
        default_pod(&mut all);
        assert_eq!(all["spec"]["tolerations"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_zero_target_port_is_unset() {
        let mut svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 0}, {"port": 81, "targetPort": "http"}]}});
        default_service(&mut svc);
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(svc["spec"]["ports"][1]["targetPort"], "http");
    }

    #[test]
    fn jobs_default_completions_only_without_parallelism() {
        let mut job = json!({"metadata": {"name": "j", "uid": "u1"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}});
        default_job(&mut job);
        assert_eq!(
            job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "u1"
        );
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"]["job-name"],
            "j"
        );
        assert_eq!(
            (&job["spec"]["completions"], &job["spec"]["parallelism"]),
            (&json!(1), &json!(1))
        );
        // A work queue: parallelism alone leaves completions unset.
        let mut queue = json!({"metadata": {"name": "q", "uid": "u2"}, "spec": {"parallelism": 3, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}});
        default_job(&mut queue);
        assert_eq!(queue["spec"].get("completions"), None);
    }

    #[test]
    fn secrets_encode_their_string_data() {
        let mut secret = json!({"metadata": {"name": "s"}, "stringData": {"a": "hi"}});
        default_secret(&mut secret);
        assert_eq!(secret["data"]["a"], "aGk=");
    }
}
