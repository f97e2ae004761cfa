//! Defaulting and validation of the built-in kinds, as Kubernetes' registry strategies
//! and defaulters do it (the parts our components rely on).

use kube_core::StatusCause;
use serde_json::{Map, Value, json};

use super::object::{at_path, meta_str, set_path};
use super::validation::{
    NameRule, immutable, invalid, is_dns_label, not_supported, required, validate_meta,
};

/// Sets `path` (dotted) to the value `default` builds, unless it is set already. The value
/// is built only when it is needed: an object read back and written again (every status
/// write) has all its defaults, and checking them costs no allocation.
fn set_default(obj: &mut Value, path: &str, default: impl FnOnce() -> Value) {
    if at_path(obj, path).is_none_or(Value::is_null) {
        set_path(obj, path, default());
    }
}

fn each_mut(obj: &mut Value, pointer: &str, mut f: impl FnMut(&mut Value)) {
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

fn validate_containers(obj: &Value, pointer: &str, field: &str, causes: &mut Vec<StatusCause>) {
    let containers = obj.pointer(pointer).and_then(Value::as_array);
    match containers {
        Some(list) if !list.is_empty() => {
            let mut seen = Vec::new();
            for (i, c) in list.iter().enumerate() {
                match c.get("name").and_then(Value::as_str) {
                    Some(n) if is_dns_label(n) => {
                        if seen.contains(&n) {
                            causes.push(StatusCause::new("FieldValueDuplicate", format!("{field}[{i}].name"), format!("Duplicate value: {n:?}")));
                        }
                        seen.push(n);
                    }
                    Some(n) => causes.push(invalid(&format!("{field}[{i}].name"), &json!(n), "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'")),
                    None => causes.push(required(&format!("{field}[{i}].name"))),
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    causes.push(required(&format!("{field}[{i}].image")));
                }
                for (j, p) in c
                    .get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let port = p.get("containerPort").and_then(Value::as_i64).unwrap_or(0);
                    if !(1..=65535).contains(&port) {
                        causes.push(invalid(
                            &format!("{field}[{i}].ports[{j}].containerPort"),
                            &json!(port),
                            "must be between 1 and 65535, inclusive",
                        ));
                    }
                }
            }
        }
        _ => causes.push(required(field)),
    }
}

fn validate_pod_spec(obj: &Value, base: &str, causes: &mut Vec<StatusCause>) {
    let dotted = if base.is_empty() {
        "spec".to_owned()
    } else {
        format!("{}.spec", base.trim_start_matches('/').replace('/', "."))
    };
    validate_containers(
        obj,
        &format!("{base}/spec/containers"),
        &format!("{dotted}.containers"),
        causes,
    );
    if let Some(rp) = obj.pointer(&format!("{base}/spec/restartPolicy")) {
        if !matches!(rp.as_str(), Some("Always" | "OnFailure" | "Never")) {
            causes.push(not_supported(
                &format!("{dotted}.restartPolicy"),
                rp,
                &["Always", "OnFailure", "Never"],
            ));
        }
    }
}

/// Pod validation: metadata, containers, and spec immutability on update (only images,
/// activeDeadlineSeconds, tolerations and an unset nodeName may change).
pub(crate) fn validate_pod(obj: &Value, old: Option<&Value>) -> Vec<StatusCause> {
    let mut causes = validate_meta(obj, old, NameRule::Subdomain);
    // An unchanged spec (every status write) was validated when it was written, and
    // needs no comparison of copies.
    let spec_changed = old.is_none_or(|old| old.get("spec") != obj.get("spec"));
    if spec_changed {
        validate_pod_spec(obj, "", &mut causes);
    }
    if let Some(old) = old.filter(|_| spec_changed) {
        let normalise = |v: &Value| -> Value {
            let mut spec = v.get("spec").cloned().unwrap_or(Value::Null);
            for list in ["containers", "initContainers"] {
                each_mut(&mut spec, &format!("/{list}"), |c| {
                    if let Some(m) = c.as_object_mut() {
                        m.remove("image");
                    }
                });
            }
            if let Some(m) = spec.as_object_mut() {
                m.remove("activeDeadlineSeconds");
                m.remove("tolerations");
                if old
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    m.remove("nodeName");
                }
            }
            spec
        };
        if normalise(obj) != normalise(old) {
            causes.push(StatusCause::new(
                "FieldValueForbidden",
                "spec",
                "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)",
            ));
        }
    }
    causes
}

fn validate_selector_matches_template(
    obj: &Value,
    old: Option<&Value>,
    causes: &mut Vec<StatusCause>,
    immutable_selector: bool,
) {
    let selector = obj.pointer("/spec/selector");
    let Some(sel) = selector.filter(|s| s.is_object()) else {
        causes.push(required("spec.selector"));
        return;
    };
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object);
    let match_labels = sel.get("matchLabels").and_then(Value::as_object);
    let empty = match_labels.is_none_or(Map::is_empty)
        && sel
            .get("matchExpressions")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
    if empty {
        causes.push(invalid(
            "spec.selector",
            sel,
            "empty selector is invalid for deployment",
        ));
    }
    if let Some(ml) = match_labels {
        let ok = ml
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        if !ok {
            causes.push(invalid(
                "spec.template.metadata.labels",
                &json!(labels),
                "`selector` does not match template `labels`",
            ));
        }
    }
    if immutable_selector {
        if let Some(old_sel) = old.and_then(|o| o.pointer("/spec/selector")) {
            if old_sel != sel {
                causes.push(immutable("spec.selector"));
            }
        }
    }
}

/// A rolling update's `maxUnavailable` and `maxSurge`, as Kubernetes checks them: each a
/// count or a percentage, neither below 0, `maxUnavailable` at most 100 %, and not both 0
/// (the update could never move).
fn validate_rolling_update(obj: &Value, path: &str, causes: &mut Vec<StatusCause>) {
    let Some(update) = at_path(obj, path) else {
        return;
    };
    // The value as a count, or as a percentage (true); `None` when unreadable.
    let read = |v: &Value| match v {
        Value::Number(n) => n.as_i64().map(|n| (n, false)),
        Value::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map(|p| (p, true)),
        _ => None,
    };
    let mut zero = [false, false];
    for (i, name) in ["maxUnavailable", "maxSurge"].into_iter().enumerate() {
        let Some(value) = update.get(name).filter(|v| !v.is_null()) else {
            continue;
        };
        let field = format!("{path}.{name}");
        match read(value) {
            None => causes.push(invalid(
                &field,
                value,
                "a valid percent string must be a numeric string followed by an ending '%'",
            )),
            Some((n, _)) if n < 0 => {
                causes.push(invalid(&field, value, "must be greater than or equal to 0"));
            }
            Some((n, true)) if n > 100 && name == "maxUnavailable" => {
                causes.push(invalid(&field, value, "must not be greater than 100%"));
            }
            Some((n, _)) => zero[i] = n == 0,
        }
    }
    if zero == [true, true] {
        let field = format!("{path}.maxUnavailable");
        let value = update.get("maxUnavailable").cloned().unwrap_or(Value::Null);
        causes.push(invalid(&field, &value, "may not be 0 when `maxSurge` is 0"));
    }
}

fn validate_replicas(obj: &Value, causes: &mut Vec<StatusCause>) {
    if let Some(r) = obj.pointer("/spec/replicas") {
        if r.as_i64().is_none_or(|n| n < 0) {
            causes.push(invalid(
                "spec.replicas",
                r,
                "must be greater than or equal to 0",
            ));
        }
    }
}

/// Deployment, ReplicaSet and DaemonSet validation.
pub(crate) fn validate_workload(obj: &Value, old: Option<&Value>) -> Vec<StatusCause> {
    let mut causes = validate_meta(obj, old, NameRule::Subdomain);
    validate_replicas(obj, &mut causes);
    // A Deployment's and a DaemonSet's rolling update bounds.
    for path in [
        "spec.strategy.rollingUpdate",
        "spec.updateStrategy.rollingUpdate",
    ] {
        validate_rolling_update(obj, path, &mut causes);
    }
    validate_selector_matches_template(obj, old, &mut causes, true);
    validate_pod_spec(obj, "/spec/template", &mut causes);
    causes
}

/// Job validation: a pod template whose restartPolicy is Never or OnFailure.
pub(crate) fn validate_job(obj: &Value, old: Option<&Value>) -> Vec<StatusCause> {
    let mut causes = validate_meta(obj, old, NameRule::Subdomain);
    validate_pod_spec(obj, "/spec/template", &mut causes);
    let rp = obj
        .pointer("/spec/template/spec/restartPolicy")
        .cloned()
        .unwrap_or(json!("Always"));
    if !matches!(rp.as_str(), Some("Never" | "OnFailure")) {
        causes.push(not_supported(
            "spec.template.spec.restartPolicy",
            &rp,
            &["OnFailure", "Never"],
        ));
    }
    if let (Some(o), Some(n)) = (
        old.and_then(|o| o.pointer("/spec/completions")),
        obj.pointer("/spec/completions"),
    ) {
        if o != n {
            causes.push(immutable("spec.completions"));
        }
    }
    let completions = obj.pointer("/spec/completions").filter(|c| !c.is_null());
    if obj.pointer("/spec/completionMode") == Some(&json!("Indexed")) && completions.is_none() {
        let mut cause = required("spec.completions");
        cause.message = "Required value: when completion mode is Indexed".into();
        causes.push(cause);
    }
    causes
}

/// Service validation: type, ports, and clusterIP format.
pub(crate) fn validate_service(obj: &Value, old: Option<&Value>) -> Vec<StatusCause> {
    let mut causes = validate_meta(obj, old, NameRule::Label);
    let type_ = obj
        .pointer("/spec/type")
        .cloned()
        .unwrap_or(json!("ClusterIP"));
    let t = type_.as_str().unwrap_or("");
    if !matches!(
        t,
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        causes.push(not_supported(
            "spec.type",
            &type_,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }
    let headless = obj.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
    let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
    if t != "ExternalName" && !headless && ports.is_none_or(Vec::is_empty) {
        causes.push(required("spec.ports"));
    }
    if t == "ExternalName"
        && obj
            .pointer("/spec/externalName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        causes.push(required("spec.externalName"));
    }
    let multi = ports.is_some_and(|p| p.len() > 1);
    for (i, p) in ports.into_iter().flatten().enumerate() {
        let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=65535).contains(&port) {
            causes.push(invalid(
                &format!("spec.ports[{i}].port"),
                &json!(port),
                "must be between 1 and 65535, inclusive",
            ));
        }
        if multi
            && p.get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            causes.push(required(&format!("spec.ports[{i}].name")));
        }
        if let Some(proto) = p.get("protocol") {
            if !matches!(proto.as_str(), Some("TCP" | "UDP" | "SCTP")) {
                causes.push(not_supported(
                    &format!("spec.ports[{i}].protocol"),
                    proto,
                    &["SCTP", "TCP", "UDP"],
                ));
            }
        }
    }
    causes
}

/// Validation of metadata only, with a name rule.
pub(crate) fn meta_only(
    rule: NameRule,
) -> impl Fn(&Value, Option<&Value>) -> Vec<StatusCause> + Send + Sync + 'static {
    move |obj, old| validate_meta(obj, old, rule)
}

/// ConfigMap and Secret validation: valid keys, and immutable data when marked so.
pub(crate) fn validate_config(obj: &Value, old: Option<&Value>) -> Vec<StatusCause> {
    let mut causes = validate_meta(obj, old, NameRule::Subdomain);
    for field in ["data", "binaryData"] {
        for k in obj
            .get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(Map::keys)
        {
            let ok = !k.is_empty()
                && k.len() <= 253
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !ok {
                causes.push(invalid(
                    &format!("{field}[{k}]"),
                    &json!(k),
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                ));
            }
        }
    }
    if let Some(old) = old {
        if old.get("immutable").and_then(Value::as_bool) == Some(true) {
            for field in ["data", "binaryData", "immutable"] {
                if old.get(field) != obj.get(field) {
                    causes.push(StatusCause::new(
                        "FieldValueForbidden",
                        field,
                        "Forbidden: field is immutable when `immutable` is set",
                    ));
                }
            }
        }
    }
    causes
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
    fn pods_get_defaults_and_validation() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}});
        default_pod(&mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(
            pod["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(pod["status"]["phase"], "Pending");
        assert_eq!(pod["status"]["qosClass"], "BestEffort");
        assert!(validate_pod(&pod, None).is_empty());
        let mut changed = pod.clone();
        changed["spec"]["containers"][0]["image"] = json!("nginx:1.26");
        assert!(validate_pod(&changed, Some(&pod)).is_empty());
        changed["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(validate_pod(&changed, Some(&pod))[0].field, "spec");
        let bad = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "C"}]}});
        let fields: Vec<String> = validate_pod(&bad, None)
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(
            fields,
            ["spec.containers[0].name", "spec.containers[0].image"]
        );
        // An update that changes the spec has it validated again; one that leaves it as
        // it was (a status write) has only what it changed looked at.
        let mut emptied = pod.clone();
        emptied["spec"]["containers"][0]["image"] = json!("");
        let fields: Vec<String> = validate_pod(&emptied, Some(&pod))
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(fields, ["spec.containers[0].image"]);
        let mut running = pod.clone();
        running["status"]["phase"] = json!("Running");
        assert!(validate_pod(&running, Some(&pod)).is_empty());
        running["metadata"]["name"] = json!("Bad_Name");
        assert!(!validate_pod(&running, Some(&pod)).is_empty());
    }

    #[test]
    fn workloads_and_services() {
        let mut d = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "y"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        default_deployment(&mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        let causes = validate_workload(&d, None);
        assert_eq!(causes[0].field, "spec.template.metadata.labels");
        let mut svc = json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}});
        default_service(&mut svc);
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
        assert!(validate_service(&svc, None).is_empty());
        let bad =
            json!({"metadata": {"name": "s"}, "spec": {"type": "Weird", "ports": [{"port": 0}]}});
        assert_eq!(validate_service(&bad, None).len(), 2);
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
        assert!(validate_job(&job, None).is_empty());
        // Rolling update bounds: not both 0, no negative or unreadable values.
        for (strategy, rolling, want) in [
            (
                "strategy",
                json!({"maxUnavailable": 0, "maxSurge": "0%"}),
                vec!["maxUnavailable"],
            ),
            (
                "updateStrategy",
                json!({"maxUnavailable": 0, "maxSurge": 1}),
                vec![],
            ),
            (
                "strategy",
                json!({"maxUnavailable": "25%", "maxSurge": "25%"}),
                vec![],
            ),
            (
                "strategy",
                json!({"maxUnavailable": -1, "maxSurge": "x"}),
                vec!["maxUnavailable", "maxSurge"],
            ),
            (
                "updateStrategy",
                json!({"maxUnavailable": "120%"}),
                vec!["maxUnavailable"],
            ),
        ] {
            let obj =
                json!({"metadata": {"name": "w"}, "spec": {strategy: {"rollingUpdate": rolling}}});
            let mut causes = Vec::new();
            validate_rolling_update(&obj, &format!("spec.{strategy}.rollingUpdate"), &mut causes);
            let fields: Vec<String> = causes
                .iter()
                .map(|c| c.field.rsplit('.').next().unwrap().to_owned())
                .collect();
            assert_eq!(fields, want, "{rolling}: {causes:?}");
        }
        assert_eq!(
            (&job["spec"]["completions"], &job["spec"]["parallelism"]),
            (&json!(1), &json!(1))
        );
        // A work queue: parallelism alone leaves completions unset.
        let mut queue = json!({"metadata": {"name": "q", "uid": "u2"}, "spec": {"parallelism": 3, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}});
        default_job(&mut queue);
        assert_eq!(queue["spec"].get("completions"), None);
        assert!(validate_job(&queue, None).is_empty());
        // Indexed needs completions.
        queue["spec"]["completionMode"] = json!("Indexed");
        let causes = validate_job(&queue, None);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.completions");
        let mut secret = json!({"metadata": {"name": "s"}, "stringData": {"a": "hi"}});
        default_secret(&mut secret);
        assert_eq!(secret["data"]["a"], "aGk=");
    }
}
