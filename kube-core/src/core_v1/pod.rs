//! `Pod`: the smallest unit the cluster schedules and runs, with its spec, status and the
//! helpers the scheduler, controllers and kubelet share; also [`ConditionStatus`], which
//! every kind's conditions use.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core_v1::{
    Affinity, Container, ResourceRequirements, Toleration, TopologySpreadConstraint,
};
use crate::meta::ObjectMeta;
use crate::quantity::{Quantity, ResourceList};
use crate::time::Time;

/// The status of a condition (`True`, `False` or `Unknown`), shared by the conditions of
/// every kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Nobody knows yet whether it holds; Kubernetes' default.
    #[default]
    Unknown,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

impl ConditionStatus {
    /// True for [`ConditionStatus::True`].
    pub fn is_true(&self) -> bool {
        *self == Self::True
    }
}

impl From<bool> for ConditionStatus {
    fn from(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }
}

/// A group of containers that share a network namespace and volumes, scheduled together
/// on one node (`v1.Pod`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state: containers, volumes and scheduling constraints.
    #[serde(default)]
    pub spec: PodSpec,
    /// The observed state, written by the scheduler and the kubelet.
    #[serde(default)]
    pub status: PodStatus,
}

crate::impl_resource!(Pod {
    group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true,
    short_names: ["po"], categories: ["all"],
    fields: { metadata: "metadata", spec: "spec", status: "status" }
});

impl Pod {
    /// The pod's condition of this type, if reported.
    pub fn condition(&self, type_: &PodConditionType) -> Option<&PodCondition> {
        self.status.condition(type_)
    }

    /// True when the pod's `Ready` condition is `True`: all its containers are ready and
    /// its readiness gates pass, so it may receive service traffic.
    pub fn is_ready(&self) -> bool {
        self.condition(&PodConditionType::Ready)
            .is_some_and(|c| c.status.is_true())
    }

    /// True once the pod reached `Succeeded` or `Failed`: none of its containers will run
    /// again.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.status.phase,
            Some(PodPhase::Succeeded | PodPhase::Failed)
        )
    }

    /// True once the pod is bound to a node.
    pub fn is_scheduled(&self) -> bool {
        self.spec
            .node_name
            .as_deref()
            .is_some_and(|n| !n.is_empty())
    }

    /// What the scheduler reserves for this pod on a node; see
    /// [`PodSpec::resource_requests`] for the rules.
    pub fn resource_requests(&self) -> PodRequests {
        PodRequests::from(&self.spec.resource_requests())
    }
}

/// The desired state of a pod (`v1.PodSpec`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Volumes the containers may mount.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub volumes: Vec<Volume>,
    /// Containers run in order, each to completion, before the app containers start
    /// (those with `restartPolicy: Always` are sidecars that keep running).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub init_containers: Vec<Container>,
    /// The app containers; at least one. Always encoded.
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub containers: Vec<Container>,
    /// Debugging containers added to a running pod, kept as written.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub ephemeral_containers: Vec<serde_json::Value>,
    /// When the kubelet restarts containers that exit; `Always` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Seconds between the stop signal and the kill on deletion (30 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// Seconds after the pod started before the kubelet fails it and kills its containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// How the pod's DNS is set up; `ClusterFirst` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_policy: Option<DnsPolicy>,
    /// Labels a node must have, all of them, for the pod to run there.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub node_selector: BTreeMap<String, String>,
    /// The service account the pod runs as (`default` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Deprecated alias of `serviceAccountName`, still written by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Whether the service account token is mounted automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
    /// The node the pod is bound to; the scheduler sets it through a binding, or a user
    /// sets it to bypass the scheduler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// Uses the node's network namespace: the pod's IP is the node's.
    #[serde(default, skip_serializing_if = "crate::wire::is_false")]
    pub host_network: bool,
    /// Uses the node's PID namespace.
    #[serde(
        rename = "hostPID",
        default,
        skip_serializing_if = "crate::wire::is_false"
    )]
    pub host_pid: bool,
    /// Uses the node's IPC namespace.
    #[serde(
        rename = "hostIPC",
        default,
        skip_serializing_if = "crate::wire::is_false"
    )]
    pub host_ipc: bool,
    /// Shares one PID namespace between the pod's containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_process_namespace: Option<bool>,
    /// Pod-wide security options (user, group, fsGroup, seccomp...), kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<serde_json::Value>,
    /// Secrets holding registry credentials for pulling the images.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// The pod's hostname; the pod name by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// With `hostname`, gives the pod the DNS name
    /// `<hostname>.<subdomain>.<namespace>.svc.<cluster-domain>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// Node affinity and pod (anti-)affinity rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// The scheduler that places this pod (`default-scheduler` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// Taints the pod tolerates.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub tolerations: Vec<Toleration>,
    /// Extra `/etc/hosts` entries, kept as written.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub host_aliases: Vec<serde_json::Value>,
    /// The PriorityClass whose value becomes `priority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// The pod's priority, resolved from its PriorityClass by admission; higher goes first
    /// and may preempt lower.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// DNS settings merged with those `dnsPolicy` yields, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<serde_json::Value>,
    /// Extra conditions that must be `True` for the pod to be ready.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub readiness_gates: Vec<PodReadinessGate>,
    /// The RuntimeClass that runs the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
    /// Whether services' environment variables are injected (true by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_service_links: Option<bool>,
    /// Whether the pod may preempt lower-priority pods; `PreemptLowerPriority` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemption_policy: Option<PreemptionPolicy>,
    /// Resources the pod's sandbox uses on top of its containers, set from the RuntimeClass.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub overhead: ResourceList,
    /// How the pod's replicas spread across topology domains.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// Uses the fully qualified domain name as the hostname.
    #[serde(
        rename = "setHostnameAsFQDN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub set_hostname_as_fqdn: Option<bool>,
    /// The operating system the pod needs (`{"name": "linux"}`), kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<serde_json::Value>,
    /// False runs the pod in its own user namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_users: Option<bool>,
    /// While any gate remains, the scheduler leaves the pod alone.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub scheduling_gates: Vec<PodSchedulingGate>,
    /// Dynamic resource claims the pod needs, kept as written.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub resource_claims: Vec<serde_json::Value>,
    /// Pod-level resources, shared by all containers; where set, they replace the sum of
    /// the containers' for that resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

impl PodSpec {
    /// The restart policy in effect: the one set, or `Always`.
    pub fn effective_restart_policy(&self) -> RestartPolicy {
        self.restart_policy.clone().unwrap_or_default()
    }

    /// The init containers, then the app containers.
    pub fn all_containers(&self) -> impl Iterator<Item = &Container> {
        self.init_containers.iter().chain(&self.containers)
    }

    /// The volume with this name.
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.name == name)
    }

    /// What the scheduler reserves on a node for this pod, per resource, with Kubernetes'
    /// rules:
    ///
    /// - a container's request for a resource is its request, or its limit when only the
    ///   limit is set (as Kubernetes' defaulting fills it in);
    /// - the app containers and the sidecars (init containers with `restartPolicy:
    ///   Always`) run together, so their requests add up;
    /// - each regular init container runs alone, beside the sidecars started before it,
    ///   so the pod needs at least that much at that point: the result is the larger of
    ///   the two;
    /// - pod-level requests (`spec.resources.requests`), where set, replace this for their
    ///   resource;
    /// - the sandbox's `overhead` is added last.
    pub fn resource_requests(&self) -> ResourceList {
        let mut total = ResourceList::new();
        for c in &self.containers {
            add_requests(&mut total, &c.resources);
        }
        let mut sidecars = ResourceList::new();
        let mut init_peak = ResourceList::new();
        for c in &self.init_containers {
            let at_start =
                if c.restart_policy == Some(crate::core_v1::ContainerRestartPolicy::Always) {
                    add_requests(&mut total, &c.resources);
                    add_requests(&mut sidecars, &c.resources);
                    sidecars.clone()
                } else {
                    let mut running = sidecars.clone();
                    add_requests(&mut running, &c.resources);
                    running
                };
            for (name, q) in at_start {
                match init_peak.get_mut(&name) {
                    Some(peak) if *peak >= q => {}
                    Some(peak) => *peak = q,
                    None => {
                        init_peak.insert(name, q);
                    }
                }
            }
        }
        for (name, q) in init_peak {
            match total.get_mut(&name) {
                Some(sum) if *sum >= q => {}
                Some(sum) => *sum = q,
                None => {
                    total.insert(name, q);
                }
            }
        }
        if let Some(pod_level) = &self.resources {
            for (name, q) in &pod_level.requests {
                total.insert(name.clone(), q.clone());
            }
        }
        for (name, q) in &self.overhead {
            add_quantity(&mut total, name, q);
        }
        total
    }
}

/// Adds a container's effective requests (requests, or limits where no request is set) to
/// a running total.
fn add_requests(total: &mut ResourceList, resources: &ResourceRequirements) {
    for (name, q) in &resources.requests {
        add_quantity(total, name, q);
    }
    for (name, q) in &resources.limits {
        if !resources.requests.contains_key(name) {
            add_quantity(total, name, q);
        }
    }
}

fn add_quantity(total: &mut ResourceList, name: &str, q: &Quantity) {
    match total.get_mut(name) {
        Some(sum) => *sum = sum.saturating_add(q),
        None => {
            total.insert(name.to_owned(), q.clone());
        }
    }
}

/// A pod's resource requests in the units the scheduler counts in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRequests {
    /// CPU in millicores (`cpu`, rounded up to whole millicores).
    pub milli_cpu: i64,
    /// Memory in bytes (`memory`).
    pub memory: i64,
    /// Local ephemeral storage in bytes (`ephemeral-storage`).
    pub ephemeral_storage: i64,
    /// Every other resource (extended resources, huge pages...), in whole units.
    pub scalar: BTreeMap<String, i64>,
}

impl From<&ResourceList> for PodRequests {
    fn from(list: &ResourceList) -> Self {
        let mut requests = Self::default();
        for (name, q) in list {
            match name.as_str() {
                "cpu" => requests.milli_cpu = q.milli_value(),
                "memory" => requests.memory = q.value(),
                "ephemeral-storage" => requests.ephemeral_storage = q.value(),
                _ => {
                    requests.scalar.insert(name.clone(), q.value());
                }
            }
        }
        requests
    }
}

/// A volume of a pod: its name and its source, kept as written so that no volume type is
/// lost (`{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// The volume's name, which containers' `volumeMounts` refer to.
    #[serde(default)]
    pub name: String,
    /// The volume source: one key (`emptyDir`, `configMap`, `secret`, `hostPath`,
    /// `persistentVolumeClaim`, `projected`...) and its settings.
    #[serde(flatten)]
    pub source: BTreeMap<String, serde_json::Value>,
}

impl Volume {
    /// The kind of source (`emptyDir`, `configMap`...), when there is exactly one.
    pub fn source_kind(&self) -> Option<&str> {
        let mut keys = self.source.keys();
        match (keys.next(), keys.next()) {
            (Some(kind), None) => Some(kind),
            _ => None,
        }
    }
}

/// A reference to an object by name, in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectReference {
    /// The object's name.
    #[serde(default)]
    pub name: String,
}

/// A condition type that must be `True` for the pod to be ready.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodReadinessGate {
    /// The condition type, in the pod's `status.conditions`.
    #[serde(default)]
    pub condition_type: PodConditionType,
}

/// A gate that keeps the scheduler from scheduling the pod until it is removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSchedulingGate {
    /// The gate's name.
    #[serde(default)]
    pub name: String,
}

/// When the kubelet restarts a pod's containers after they exit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RestartPolicy {
    /// Always restart; the default, and the only policy Deployments and DaemonSets allow.
    #[default]
    Always,
    /// Restart only after a non-zero exit.
    OnFailure,
    /// Never restart.
    Never,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// How a pod's DNS resolver is set up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DnsPolicy {
    /// Cluster DNS first, then the node's upstream servers; the default.
    #[default]
    ClusterFirst,
    /// Cluster DNS even for host-network pods.
    ClusterFirstWithHostNet,
    /// The node's resolver configuration.
    Default,
    /// Only what `dnsConfig` says.
    None,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// Whether a pod may preempt lower-priority pods.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PreemptionPolicy {
    /// It may; the default.
    #[default]
    PreemptLowerPriority,
    /// It waits instead.
    Never,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// The observed state of a pod (`v1.PodStatus`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    /// The pod generation this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the pod is in its life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PodPhase>,
    /// The pod's current conditions.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub conditions: Vec<PodCondition>,
    /// A human-readable message about why the pod is in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A brief CamelCase reason for the state (`Evicted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The node where preemption made room for this pod; it may still go elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nominated_node_name: Option<String>,
    /// The primary IP of the node the pod runs on.
    #[serde(rename = "hostIP", default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// The IPs of the node (one per family), the first equal to `hostIP`.
    #[serde(
        rename = "hostIPs",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub host_ips: Vec<HostIp>,
    /// The pod's primary IP.
    #[serde(rename = "podIP", default, skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    /// The pod's IPs (one per family), the first equal to `podIP`.
    #[serde(
        rename = "podIPs",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub pod_ips: Vec<PodIp>,
    /// When the kubelet accepted the pod, before pulling any image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// One status per init container, in spec order.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub init_container_statuses: Vec<ContainerStatus>,
    /// One status per app container.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub container_statuses: Vec<ContainerStatus>,
    /// One status per ephemeral container.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub ephemeral_container_statuses: Vec<ContainerStatus>,
    /// The quality-of-service class, from the containers' requests and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos_class: Option<QosClass>,
    /// The state of an in-place resize, if one was requested (deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<String>,
    /// The status of the pod's resource claims, kept as written.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub resource_claim_statuses: Vec<serde_json::Value>,
}

impl PodStatus {
    /// The condition of this type, if reported.
    pub fn condition(&self, type_: &PodConditionType) -> Option<&PodCondition> {
        self.conditions.iter().find(|c| c.type_ == *type_)
    }

    /// Adds or replaces the condition of the same type, as the kubelet and the scheduler
    /// do. The transition time is kept when the status did not change and becomes `now`
    /// when it did (or the condition is new). Returns true when anything changed.
    pub fn set_condition(&mut self, mut condition: PodCondition, now: Time) -> bool {
        match self
            .conditions
            .iter_mut()
            .find(|c| c.type_ == condition.type_)
        {
            None => {
                condition.last_transition_time = Some(now);
                self.conditions.push(condition);
                true
            }
            Some(existing) => {
                condition.last_transition_time = if existing.status == condition.status {
                    existing.last_transition_time
                } else {
                    Some(now)
                };
                let changed = *existing != condition;
                *existing = condition;
                changed
            }
        }
    }

    /// The status of the app container with this name.
    pub fn container_status(&self, name: &str) -> Option<&ContainerStatus> {
        self.container_statuses.iter().find(|s| s.name == name)
    }
}

/// Where a pod is in its life.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PodPhase {
    /// Accepted, but not all containers are running yet (scheduling, pulling images).
    #[default]
    Pending,
    /// Bound to a node, and at least one container is running or restarting.
    Running,
    /// All containers exited successfully and will not restart.
    Succeeded,
    /// All containers exited and at least one failed.
    Failed,
    /// The pod's state could not be obtained (its node is unreachable).
    Unknown,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// A condition of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodCondition {
    /// What the condition is about.
    #[serde(rename = "type", default)]
    pub type_: PodConditionType,
    /// The pod generation the condition was set from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Whether it holds.
    #[serde(default)]
    pub status: ConditionStatus,
    /// When the condition was last probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A brief CamelCase reason for the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable message about the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl PodCondition {
    /// A condition of this type and status, without times, reason or message.
    pub fn new(type_: PodConditionType, status: ConditionStatus) -> Self {
        Self {
            type_,
            status,
            ..Self::default()
        }
    }
}

/// The type of a pod condition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PodConditionType {
    /// The pod is bound to a node.
    #[default]
    PodScheduled,
    /// The pod's sandbox and network are set up.
    PodReadyToStartContainers,
    /// All init containers completed.
    Initialized,
    /// All containers are ready.
    ContainersReady,
    /// The pod can serve requests: containers ready and readiness gates passed.
    Ready,
    /// The pod is about to be terminated by a disruption (preemption, eviction...).
    DisruptionTarget,
    /// A requested resize cannot be applied yet.
    PodResizePending,
    /// A resize is being applied.
    PodResizeInProgress,
    /// Any other type, such as a readiness gate's; kept as written.
    #[serde(untagged)]
    Other(String),
}

/// One IP of the node a pod runs on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostIp {
    /// The IP address.
    #[serde(default)]
    pub ip: String,
}

/// One IP of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodIp {
    /// The IP address.
    #[serde(default)]
    pub ip: String,
}

/// The quality-of-service class of a pod, which decides who is evicted first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum QosClass {
    /// Every container has equal CPU and memory requests and limits.
    Guaranteed,
    /// Some container has a request or a limit, but the pod is not guaranteed.
    Burstable,
    /// No container has any request or limit; evicted first.
    #[default]
    BestEffort,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// The status of one container, as the kubelet reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    /// The container's name, as in the spec.
    #[serde(default)]
    pub name: String,
    /// What the container is doing now. Always encoded.
    #[serde(default)]
    pub state: ContainerState,
    /// How the previous run ended, if it restarted. Always encoded.
    #[serde(default)]
    pub last_state: ContainerState,
    /// True when the readiness probe passes (or there is none and it runs).
    #[serde(default)]
    pub ready: bool,
    /// How many times the container restarted.
    #[serde(default)]
    pub restart_count: i32,
    /// The image the container runs.
    #[serde(default)]
    pub image: String,
    /// The image's ID as the runtime knows it (often a digest).
    #[serde(rename = "imageID", default)]
    pub image_id: String,
    /// The container's ID, as `<runtime>://<id>`.
    #[serde(
        rename = "containerID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_id: Option<String>,
    /// True once the startup probe passed (or there is none) and the post-start hook ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
    /// Resources the node allocated to the container.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub allocated_resources: ResourceList,
    /// The resources the container actually runs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// The mounts the runtime made, kept as written.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub volume_mounts: Vec<serde_json::Value>,
    /// The user and groups the process runs as, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<serde_json::Value>,
    /// The health of allocated devices, kept as written.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub allocated_resources_status: Vec<serde_json::Value>,
    /// The signal that stops the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// The state of a container: at most one of waiting, running and terminated (none means
/// waiting to be created).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    /// Not running yet, or between restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<ContainerStateWaiting>,
    /// Running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<ContainerStateRunning>,
    /// Exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated: Option<ContainerStateTerminated>,
}

/// A container that is not running yet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateWaiting {
    /// Why it waits (`ContainerCreating`, `ImagePullBackOff`, `CrashLoopBackOff`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A running container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateRunning {
    /// When it last (re)started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
}

/// A container that exited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateTerminated {
    /// The exit status of its last run.
    #[serde(default)]
    pub exit_code: i32,
    /// The signal that ended it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Why it ended (`Completed`, `Error`, `OOMKilled`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details for humans (the termination message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When its last run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When its last run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// The ID of the exited container, as `<runtime>://<id>`.
    #[serde(
        rename = "containerID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_id: Option<String>,
}

/// The pod template of a workload: the metadata and spec of the pods it creates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    /// Metadata of the pods (labels the workload's selector must match). Always encoded.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The pods' spec. Always encoded.
    #[serde(default)]
    pub spec: PodSpec,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> Time {
        Time::parse(s).unwrap()
    }

    fn spec(json: serde_json::Value) -> PodSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn condition_status_keeps_unknown_values() {
        let s: ConditionStatus = serde_json::from_str(r#""True""#).unwrap();
        assert!(s.is_true());
        let s: ConditionStatus = serde_json::from_str(r#""Maybe""#).unwrap();
        assert_eq!(s, ConditionStatus::Other("Maybe".into()));
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""Maybe""#);
        assert_eq!(ConditionStatus::from(false), ConditionStatus::False);
        let schema = serde_json::to_value(schemars::schema_for!(Pod)).unwrap();
        assert!(schema["properties"]["spec"].is_object());
    }

    #[test]
    fn readiness_and_terminal_phases() {
        let mut pod = Pod::default();
        assert!(!pod.is_ready() && !pod.is_terminal() && !pod.is_scheduled());
        pod.status.phase = Some(PodPhase::Running);
        pod.status.set_condition(
            PodCondition::new(PodConditionType::Ready, ConditionStatus::True),
            time("2024-05-01T12:00:00Z"),
        );
        assert!(pod.is_ready());
        assert!(!pod.is_terminal());
        pod.status.set_condition(
            PodCondition::new(PodConditionType::Ready, ConditionStatus::False),
            time("2024-05-01T12:01:00Z"),
        );
        assert!(!pod.is_ready());
        for phase in [PodPhase::Succeeded, PodPhase::Failed] {
            pod.status.phase = Some(phase);
            assert!(pod.is_terminal());
        }
        pod.spec.node_name = Some("node-1".into());
        assert!(pod.is_scheduled());
    }

    #[test]
    fn set_condition_keeps_the_transition_time_while_the_status_holds() {
        let (t0, t1, t2) = (
            time("2024-05-01T12:00:00Z"),
            time("2024-05-01T12:05:00Z"),
            time("2024-05-01T12:10:00Z"),
        );
        let mut status = PodStatus::default();
        let ready = |s: ConditionStatus, reason: &str| PodCondition {
            reason: Some(reason.into()),
            ..PodCondition::new(PodConditionType::Ready, s)
        };
        assert!(status.set_condition(ready(ConditionStatus::False, "Starting"), t0));
        assert_eq!(status.conditions[0].last_transition_time, Some(t0));
        // Same status and fields: no change, time kept.
        assert!(!status.set_condition(ready(ConditionStatus::False, "Starting"), t1));
        assert_eq!(status.conditions[0].last_transition_time, Some(t0));
        // Same status, new reason: a change, time still kept.
        assert!(status.set_condition(ready(ConditionStatus::False, "ContainersNotReady"), t1));
        assert_eq!(status.conditions[0].last_transition_time, Some(t0));
        // New status: the transition time moves.
        assert!(status.set_condition(ready(ConditionStatus::True, "Ready"), t2));
        let c = status.condition(&PodConditionType::Ready).unwrap();
        assert_eq!(
            (c.status.clone(), c.last_transition_time),
            (ConditionStatus::True, Some(t2))
        );
        // Other types are added beside it.
        assert!(status.set_condition(
            PodCondition::new(PodConditionType::PodScheduled, ConditionStatus::True),
            t2
        ));
        assert_eq!(status.conditions.len(), 2);
    }

    #[test]
    fn requests_sum_containers_and_take_the_init_peak() {
        let s = spec(serde_json::json!({
            "initContainers": [
                {"name": "migrate", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}}}
            ],
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "128Mi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "250m"}, "limits": {"memory": "256Mi", "nvidia.com/gpu": "1"}}},
                {"name": "c"}
            ],
            "overhead": {"cpu": "100m", "memory": "10Mi"}
        }));
        let r = Pod {
            spec: s,
            ..Default::default()
        }
        .resource_requests();
        assert_eq!(
            r.milli_cpu,
            2_000 + 100,
            "the init container needs more CPU than the app"
        );
        assert_eq!(
            r.memory,
            (128 + 256 + 10) << 20,
            "memory limits stand in for requests"
        );
        assert_eq!(r.ephemeral_storage, 0);
        assert_eq!(r.scalar, BTreeMap::from([("nvidia.com/gpu".to_owned(), 1)]));
    }

    #[test]
    fn sidecars_add_to_the_app_and_to_later_init_containers() {
        let s = spec(serde_json::json!({
            "initContainers": [
                {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "300m"}}},
                {"name": "setup", "resources": {"requests": {"cpu": "1", "ephemeral-storage": "1Gi"}}}
            ],
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "200m"}}}]
        }));
        let list = s.resource_requests();
        // App + sidecar = 500m; setup beside the sidecar = 1300m.
        assert_eq!(list["cpu"], "1300m".parse::<Quantity>().unwrap());
        let r = PodRequests::from(&list);
        assert_eq!(r.milli_cpu, 1300);
        assert_eq!(r.ephemeral_storage, 1 << 30);
        let small_init = spec(serde_json::json!({
            "initContainers": [
                {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "300m"}}},
                {"name": "setup", "resources": {"requests": {"cpu": "100m"}}}
            ],
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "200m"}}}]
        }));
        assert_eq!(
            PodRequests::from(&small_init.resource_requests()).milli_cpu,
            500
        );
    }

    #[test]
    fn pod_level_requests_replace_the_container_sum() {
        let s = spec(serde_json::json!({
            "resources": {"requests": {"cpu": "4"}},
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
            "overhead": {"cpu": "250m"}
        }));
        let r = PodRequests::from(&s.resource_requests());
        assert_eq!((r.milli_cpu, r.memory), (4_250, 1 << 30));
        assert_eq!(PodSpec::default().resource_requests(), ResourceList::new());
    }

    #[test]
    fn volumes_keep_any_source() {
        let v: Volume = serde_json::from_value(serde_json::json!({
            "name": "data", "csi": {"driver": "example.com", "volumeAttributes": {"size": "1"}}
        }))
        .unwrap();
        assert_eq!(v.source_kind(), Some("csi"));
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            serde_json::json!({"name": "data", "csi": {"driver": "example.com", "volumeAttributes": {"size": "1"}}})
        );
        let s = PodSpec {
            volumes: vec![v],
            ..Default::default()
        };
        assert!(s.volume("data").is_some() && s.volume("logs").is_none());
        assert_eq!(s.effective_restart_policy(), RestartPolicy::Always);
    }

    #[test]
    fn empty_pods_encode_spec_and_status() {
        let json = serde_json::to_value(Pod::default()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {"containers": []}, "status": {}})
        );
    }
}
