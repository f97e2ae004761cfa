//! Validation of the built-in kinds, as Kubernetes' registry strategies do it (the parts
//! our components rely on): each function is a kind's `Validator`, given the object and,
//! for an update, the stored one. The shared checks (names, metadata, causes) are in
//! `validation.rs`; the kinds' defaulting, which runs first, in `defaults.rs`.

use kube_core::StatusCause;
use serde_json::{Map, Value, json};

use super::defaults::each_mut;
use super::object::at_path;
use super::validation::{
    NameRule, immutable, invalid, is_dns_label, not_supported, required, validate_meta,
};

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
    // Counts the Job controller works with: whole numbers, never below 0.
    for field in ["completions", "parallelism", "backoffLimit"] {
        if let Some(v) = obj
            .pointer(&format!("/spec/{field}"))
            .filter(|v| !v.is_null())
        {
            if v.as_i64()
                .is_none_or(|n| !(0..=i64::from(i32::MAX)).contains(&n))
            {
                causes.push(invalid(
                    &format!("spec.{field}"),
                    v,
                    "must be greater than or equal to 0",
                ));
            }
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
    use super::super::defaults::{default_deployment, default_job, default_pod, default_service};
    use super::*;

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
    }

    #[test]
    fn jobs_need_completions_when_indexed() {
        let mut job = json!({"metadata": {"name": "j", "uid": "u1"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}});
        default_job(&mut job);
        assert!(validate_job(&job, None).is_empty());
        let mut queue = json!({"metadata": {"name": "q", "uid": "u2"}, "spec": {"parallelism": 3, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}});
        default_job(&mut queue);
        assert!(validate_job(&queue, None).is_empty());
        // Indexed needs completions.
        queue["spec"]["completionMode"] = json!("Indexed");
        let causes = validate_job(&queue, None);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.completions");
        // Counts below 0 (or not whole numbers) are refused.
        for field in ["completions", "parallelism", "backoffLimit"] {
            for bad in [json!(-1), json!(i64::MIN), json!(1.5), json!("2")] {
                let mut job = job.clone();
                job["spec"][field] = bad.clone();
                let causes = validate_job(&job, None);
                assert_eq!(causes.len(), 1, "{field} {bad}: {causes:?}");
                assert_eq!(causes[0].field, format!("spec.{field}"));
            }
        }
    }

    #[test]
    fn rolling_update_bounds() {
        // Not both 0, no negative or unreadable values.
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
    }
}
