//! The built-in kinds: their resources, subresources, columns, field selectors,
//! strategic-merge keys, defaulting and validation.

use std::borrow::Cow;

use kube_core::ApiResource;

use super::columns as c;
use super::defaults as d;
use super::kind_validation as v;
use super::kinds::{CellSource, Column, KindSpec, MergeStrategy, ScalePaths};
use super::validation::NameRule;

fn res(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
) -> ApiResource {
    ApiResource {
        group: Cow::Borrowed(group),
        version: Cow::Borrowed("v1"),
        kind: Cow::Borrowed(kind),
        plural: Cow::Borrowed(plural),
        namespaced,
        short_names: short
            .iter()
            .map(|s| Cow::Borrowed(*s))
            .collect::<Vec<_>>()
            .into(),
        categories: if all {
            vec![Cow::Borrowed("all")].into()
        } else {
            Cow::Borrowed(&[])
        },
    }
}

fn f(name: &str, func: super::kinds::CellFn) -> Column {
    Column::new(name, CellSource::Func(func))
}

fn p(name: &str, path: &str) -> Column {
    Column::new(name, CellSource::Path(path.into()))
}

/// The strategic-merge keys of the lists we model (pod specs wherever they appear,
/// conditions, owner references, finalizers, service ports).
pub(crate) fn merge_keys() -> Vec<(String, MergeStrategy)> {
    let key = |k: &str| MergeStrategy::Key(k.into());
    let mut out = vec![
        ("metadata.finalizers".to_owned(), MergeStrategy::Primitives),
        ("metadata.ownerReferences".to_owned(), key("uid")),
        ("status.conditions".to_owned(), key("type")),
        ("status.addresses".to_owned(), key("type")),
        ("spec.ports".to_owned(), key("port")),
        ("spec.volumes".to_owned(), key("name")),
        ("spec.imagePullSecrets".to_owned(), key("name")),
        ("spec.hostAliases".to_owned(), key("ip")),
        (
            "spec.topologySpreadConstraints".to_owned(),
            key("topologyKey"),
        ),
        ("spec.schedulingGates".to_owned(), key("name")),
        ("spec.resourceClaims".to_owned(), key("name")),
    ];
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        out.push((format!("spec.{list}"), key("name")));
        out.push((format!("{list}.ports"), key("containerPort")));
        out.push((format!("{list}.env"), key("name")));
        out.push((format!("{list}.volumeMounts"), key("mountPath")));
        out.push((format!("{list}.volumeDevices"), key("devicePath")));
        out.push((format!("{list}.resizePolicy"), key("resourceName")));
    }
    out
}

fn spec(resource: ApiResource) -> KindSpec {
    let mut k = KindSpec::new(resource);
    k.merge_keys = merge_keys();
    k
}

/// Every built-in kind.
pub(crate) fn kinds() -> Vec<KindSpec> {
    let age = Column::age;
    let mut pods = spec(res("", "Pod", "pods", true, &["po"], true))
        .with_status()
        .with_columns(vec![
            f("Ready", c::pod_ready),
            f("Status", c::pod_status),
            f("Restarts", c::pod_restarts).typed("integer"),
            age(),
            f("IP", c::pod_ip).priority(1),
            f("Node", c::pod_node).priority(1),
            f("Nominated Node", c::pod_nominated).priority(1),
            f("Readiness Gates", c::pod_gates).priority(1),
        ])
        .with_field_selectors(&[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ])
        .with_defaulter(d::default_pod)
        .with_status_defaulter(d::default_pod_status)
        .with_validator(v::validate_pod);
    pods.graceful_deletion = true;
    pods.tracks_generation = false;
    pods.extra_subresources = vec!["binding".into(), "eviction".into(), "log".into()];

    let nodes = spec(res("", "Node", "nodes", false, &["no"], false))
        .with_status()
        .with_columns(vec![
            f("Status", c::node_status),
            f("Roles", c::node_roles),
            age(),
            f("Version", c::node_version),
            f("Internal-IP", c::node_internal_ip).priority(1),
            f("External-IP", c::node_external_ip).priority(1),
            p("OS-Image", ".status.nodeInfo.osImage").priority(1),
            p("Kernel-Version", ".status.nodeInfo.kernelVersion").priority(1),
            p(
                "Container-Runtime",
                ".status.nodeInfo.containerRuntimeVersion",
            )
            .priority(1),
        ])
        .with_field_selectors(&["spec.unschedulable"])
        .with_validator(v::meta_only(NameRule::Subdomain));
    let mut nodes = nodes;
    nodes.tracks_generation = false;

    let mut services = spec(res("", "Service", "services", true, &["svc"], true))
        .with_status()
        .with_columns(vec![
            p("Type", ".spec.type"),
            p("Cluster-IP", ".spec.clusterIP"),
            f("External-IP", c::service_external_ip),
            f("Port(s)", c::service_ports),
            age(),
            f("Selector", c::service_selector).priority(1),
        ])
        .with_field_selectors(&["spec.clusterIP", "spec.type"])
        .with_defaulter(d::default_service)
        .with_validator(v::validate_service);
    services.tracks_generation = false;

    let mut namespaces = spec(res("", "Namespace", "namespaces", false, &["ns"], false))
        .with_status()
        .with_columns(vec![f("Status", c::namespace_status), age()])
        .with_field_selectors(&["status.phase"])
        .with_defaulter(d::default_namespace)
        .with_validator(v::meta_only(NameRule::Label));
    namespaces.tracks_generation = false;
    namespaces.extra_subresources = vec!["finalize".into()];

    let workload_cols = |cols: Vec<Column>| {
        let mut cols = cols;
        cols.push(age());
        cols.push(f("Containers", c::template_containers).priority(1));
        cols.push(f("Images", c::template_images).priority(1));
        cols.push(f("Selector", c::label_selector).priority(1));
        cols
    };

    let mut out = vec![
        pods,
        nodes,
        services,
        namespaces,
        spec(res("", "ConfigMap", "configmaps", true, &["cm"], false))
            .with_columns(vec![f("Data", c::data_count).typed("integer"), age()])
            .with_validator(v::validate_config),
        spec(res("", "Secret", "secrets", true, &[], false))
            .with_columns(vec![
                p("Type", ".type"),
                f("Data", c::data_count).typed("integer"),
                age(),
            ])
            .with_field_selectors(&["type"])
            .with_defaulter(d::default_secret)
            .with_validator(v::validate_config),
        spec(res("", "Endpoints", "endpoints", true, &["ep"], false))
            .with_columns(vec![f("Endpoints", c::endpoints_list), age()])
            .with_validator(v::meta_only(NameRule::Subdomain)),
        spec(res("", "Event", "events", true, &["ev"], false))
            .with_columns(vec![
                f("Last Seen", c::event_last_seen),
                p("Type", ".type"),
                p("Reason", ".reason"),
                f("Object", c::event_object),
                p("Message", ".message"),
            ])
            .with_field_selectors(&[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ])
            .with_validator(v::meta_only(NameRule::Subdomain)),
        spec(res(
            "",
            "ServiceAccount",
            "serviceaccounts",
            true,
            &["sa"],
            false,
        ))
        .with_columns(vec![p("Secrets", ".secrets"), age()])
        .with_validator(v::meta_only(NameRule::Subdomain)),
        spec(res(
            "apps",
            "Deployment",
            "deployments",
            true,
            &["deploy"],
            true,
        ))
        .with_status()
        .with_scale(ScalePaths::default())
        .with_columns(workload_cols(vec![
            f("Ready", c::deployment_ready),
            f("Up-to-date", c::deployment_updated).typed("integer"),
            f("Available", c::deployment_available).typed("integer"),
        ]))
        .with_defaulter(d::default_deployment)
        .with_validator(v::validate_workload),
        spec(res(
            "apps",
            "ReplicaSet",
            "replicasets",
            true,
            &["rs"],
            true,
        ))
        .with_status()
        .with_scale(ScalePaths::default())
        .with_columns(workload_cols(vec![
            f("Desired", c::rs_desired).typed("integer"),
            f("Current", c::rs_current).typed("integer"),
            f("Ready", c::rs_ready).typed("integer"),
        ]))
        .with_field_selectors(&["status.replicas"])
        .with_defaulter(d::default_replica_set)
        .with_validator(v::validate_workload),
        spec(res("apps", "DaemonSet", "daemonsets", true, &["ds"], true))
            .with_status()
            .with_columns(workload_cols(vec![
                f("Desired", c::ds_desired).typed("integer"),
                f("Current", c::ds_current).typed("integer"),
                f("Ready", c::ds_ready).typed("integer"),
                f("Up-to-date", c::ds_updated).typed("integer"),
                f("Available", c::ds_available).typed("integer"),
                f("Node Selector", c::ds_node_selector),
            ]))
            .with_defaulter(d::default_daemon_set)
            .with_validator(v::validate_workload),
        spec(res("batch", "Job", "jobs", true, &[], true))
            .with_status()
            .with_columns(vec![
                f("Status", c::job_status),
                f("Completions", c::job_completions),
                f("Duration", c::job_duration),
                age(),
                f("Containers", c::template_containers).priority(1),
                f("Images", c::template_images).priority(1),
                f("Selector", c::label_selector).priority(1),
            ])
            .with_field_selectors(&["status.successful"])
            .with_defaulter(d::default_job)
            .with_validator(v::validate_job),
        spec(res(
            "coordination.k8s.io",
            "Lease",
            "leases",
            true,
            &[],
            false,
        ))
        .with_columns(vec![f("Holder", c::lease_holder), age()])
        .with_validator(v::meta_only(NameRule::Subdomain)),
        spec(res(
            "rbac.authorization.k8s.io",
            "Role",
            "roles",
            true,
            &[],
            false,
        ))
        .with_columns(vec![f("Created At", c::created_at).typed("string")])
        .with_validator(v::meta_only(NameRule::PathSegment)),
        spec(res(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "clusterroles",
            false,
            &[],
            false,
        ))
        .with_columns(vec![f("Created At", c::created_at).typed("string")])
        .with_validator(v::meta_only(NameRule::PathSegment)),
        spec(res(
            "rbac.authorization.k8s.io",
            "RoleBinding",
            "rolebindings",
            true,
            &[],
            false,
        ))
        .with_columns(vec![
            f("Role", c::binding_role),
            age(),
            f("Users", c::binding_users).priority(1),
            f("Groups", c::binding_groups).priority(1),
            f("ServiceAccounts", c::binding_service_accounts).priority(1),
        ])
        .with_validator(v::meta_only(NameRule::PathSegment)),
        spec(res(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            &[],
            false,
        ))
        .with_columns(vec![
            f("Role", c::binding_role),
            age(),
            f("Users", c::binding_users).priority(1),
            f("Groups", c::binding_groups).priority(1),
            f("ServiceAccounts", c::binding_service_accounts).priority(1),
        ])
        .with_validator(v::meta_only(NameRule::PathSegment)),
        super::crd::crd_kind(),
    ];
    for k in &mut out {
        k.schema = builtin_schema(&k.resource.group, &k.resource.kind);
    }
    out
}

/// The OpenAPI schema of a built-in kind, from its kube-core type.
fn builtin_schema(group: &str, kind: &str) -> Option<serde_json::Value> {
    use super::schema::of;
    use kube_core as k;
    Some(match (group, kind) {
        ("", "Pod") => of::<k::Pod>(),
        ("", "Node") => of::<k::Node>(),
        ("", "Service") => of::<k::Service>(),
        ("", "Namespace") => of::<k::Namespace>(),
        ("", "ConfigMap") => of::<k::ConfigMap>(),
        ("", "Secret") => of::<k::Secret>(),
        ("", "Endpoints") => of::<k::Endpoints>(),
        ("", "Event") => of::<k::Event>(),
        ("apps", "Deployment") => of::<k::Deployment>(),
        ("apps", "ReplicaSet") => of::<k::ReplicaSet>(),
        ("apps", "DaemonSet") => of::<k::DaemonSet>(),
        ("batch", "Job") => of::<k::Job>(),
        ("coordination.k8s.io", "Lease") => of::<k::Lease>(),
        ("rbac.authorization.k8s.io", "Role") => of::<k::Role>(),
        ("rbac.authorization.k8s.io", "ClusterRole") => of::<k::ClusterRole>(),
        ("rbac.authorization.k8s.io", "RoleBinding") => of::<k::RoleBinding>(),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => of::<k::ClusterRoleBinding>(),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => of::<k::CustomResourceDefinition>(),
        _ => return None,
    })
}

/// Decodes a built-in kind's object into its kube-core type: a field of the wrong type
/// (`data: "text"` where a map belongs) is a 400, as Kubernetes' decoder answers, and never
/// reaches the store. Other kinds pass.
pub(crate) fn type_check(kind: &KindSpec, obj: &serde_json::Value) -> Result<(), kube_core::Error> {
    use kube_core as k;
    fn decode<T: serde::de::DeserializeOwned>(
        kind: &KindSpec,
        obj: &serde_json::Value,
    ) -> Result<(), kube_core::Error> {
        // The fast path decodes plainly; only a failure pays for tracking the path.
        if T::deserialize(obj).is_ok() {
            return Ok(());
        }
        match serde_path_to_error::deserialize::<_, T>(obj) {
            Ok(_) => Ok(()),
            Err(e) => Err(kube_core::Error::BadRequest(format!(
                "{} in version \"{}\" cannot be handled as a {}: {} at {}",
                kind.resource.kind,
                kind.resource.api_version(),
                kind.resource.kind,
                e.inner(),
                e.path()
            ))),
        }
    }
    match (kind.resource.group.as_ref(), kind.resource.kind.as_ref()) {
        ("", "Pod") => decode::<k::Pod>(kind, obj),
        ("", "Node") => decode::<k::Node>(kind, obj),
        ("", "Service") => decode::<k::Service>(kind, obj),
        ("", "Namespace") => decode::<k::Namespace>(kind, obj),
        ("", "ConfigMap") => decode::<k::ConfigMap>(kind, obj),
        ("", "Secret") => decode::<k::Secret>(kind, obj),
        ("", "Endpoints") => decode::<k::Endpoints>(kind, obj),
        ("", "Event") => decode::<k::Event>(kind, obj),
        ("apps", "Deployment") => decode::<k::Deployment>(kind, obj),
        ("apps", "ReplicaSet") => decode::<k::ReplicaSet>(kind, obj),
        ("apps", "DaemonSet") => decode::<k::DaemonSet>(kind, obj),
        ("batch", "Job") => decode::<k::Job>(kind, obj),
        ("coordination.k8s.io", "Lease") => decode::<k::Lease>(kind, obj),
        ("rbac.authorization.k8s.io", "Role") => decode::<k::Role>(kind, obj),
        ("rbac.authorization.k8s.io", "ClusterRole") => decode::<k::ClusterRole>(kind, obj),
        ("rbac.authorization.k8s.io", "RoleBinding") => decode::<k::RoleBinding>(kind, obj),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            decode::<k::ClusterRoleBinding>(kind, obj)
        }
        _ => Ok(()),
    }
}

/// The status of an object, decoded alone (every other field ignored unread).
#[derive(serde::Deserialize)]
struct StatusOf<S> {
    /// Decoded to check its type, never read.
    #[serde(default, rename = "status")]
    _status: S,
}

/// [`type_check`] for a write through the status subresource: everything but the status
/// is the stored object's, checked when it was written, so only the status is decoded.
/// A status that does not decode gets the whole object's check, and with it the path of
/// the bad field in the message.
pub(crate) fn type_check_status(
    kind: &KindSpec,
    obj: &serde_json::Value,
) -> Result<(), kube_core::Error> {
    use kube_core as k;
    fn decodes<S: serde::de::DeserializeOwned + Default>(obj: &serde_json::Value) -> bool {
        <StatusOf<S> as serde::Deserialize>::deserialize(obj).is_ok()
    }
    let decoded = match (kind.resource.group.as_ref(), kind.resource.kind.as_ref()) {
        ("", "Pod") => decodes::<k::PodStatus>(obj),
        ("", "Node") => decodes::<k::NodeStatus>(obj),
        ("", "Service") => decodes::<k::ServiceStatus>(obj),
        ("", "Namespace") => decodes::<k::NamespaceStatus>(obj),
        ("apps", "Deployment") => decodes::<k::DeploymentStatus>(obj),
        ("apps", "ReplicaSet") => decodes::<k::ReplicaSetStatus>(obj),
        ("apps", "DaemonSet") => decodes::<k::DaemonSetStatus>(obj),
        ("batch", "Job") => decodes::<k::JobStatus>(obj),
        _ => false,
    };
    if decoded {
        return Ok(());
    }
    type_check(kind, obj)
}
