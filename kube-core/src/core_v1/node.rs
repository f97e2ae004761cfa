//! `Node`: a machine of the cluster, its taints, capacity and health, as its kubelet reports
//! them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core_v1::ConditionStatus;
use crate::meta::ObjectMeta;
use crate::quantity::ResourceList;
use crate::time::Time;

/// A machine of the cluster (`v1.Node`), cluster-scoped, named by its kubelet.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// How the node is configured: pod CIDRs, taints, whether it takes new pods.
    #[serde(default)]
    pub spec: NodeSpec,
    /// What the kubelet reports: capacity, conditions, addresses, versions, images.
    #[serde(default)]
    pub status: NodeStatus,
}

crate::impl_resource!(Node {
    group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false,
    short_names: ["no"], categories: [],
    fields: { metadata: "metadata", spec: "spec", status: "status" }
});

impl Node {
    /// The condition of type `type_`, if the kubelet reported it.
    pub fn condition(&self, type_: &NodeConditionType) -> Option<&NodeCondition> {
        self.status.conditions.iter().find(|c| &c.type_ == type_)
    }

    /// True when the `Ready` condition is `True`: the kubelet is healthy and takes pods.
    pub fn is_ready(&self) -> bool {
        self.condition(&NodeConditionType::Ready)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// The node's first `InternalIP` address.
    pub fn internal_ip(&self) -> Option<&str> {
        self.address(&NodeAddressType::InternalIP)
    }

    /// The node's first address of type `type_`.
    pub fn address(&self, type_: &NodeAddressType) -> Option<&str> {
        self.status
            .addresses
            .iter()
            .find(|a| &a.type_ == type_)
            .map(|a| a.address.as_str())
    }
}

/// How a node is configured.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    /// The IP range assigned to the node's pods (`10.244.1.0/24`); the first of
    /// `podCIDRs`.
    #[serde(rename = "podCIDR", default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    /// The IP ranges assigned to the node's pods, at most one per IP family.
    #[serde(
        rename = "podCIDRs",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub pod_cidrs: Vec<String>,
    /// The cloud provider's ID of the machine (`<provider>://<id>`).
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_id: Option<String>,
    /// When true, no new pods are scheduled on the node (`kubectl cordon`).
    #[serde(default, skip_serializing_if = "crate::wire::is_false")]
    pub unschedulable: bool,
    /// Taints that repel pods which do not tolerate them.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub taints: Vec<Taint>,
}

/// A taint on a node: pods that do not tolerate it are kept off (or evicted), depending on
/// its effect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    /// The taint key (`node.kubernetes.io/not-ready`).
    #[serde(default)]
    pub key: String,
    /// The taint value; tolerations with operator `Equal` must match it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What happens to pods that do not tolerate the taint.
    #[serde(default)]
    pub effect: TaintEffect,
    /// When a `NoExecute` taint was added; the node lifecycle controller sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<Time>,
}

/// The effect of a [`Taint`] on pods that do not tolerate it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum TaintEffect {
    /// New pods are not scheduled on the node; running pods stay.
    #[default]
    NoSchedule,
    /// The scheduler tries to avoid the node, but may still use it.
    PreferNoSchedule,
    /// New pods are not scheduled, and running pods are evicted (after their toleration
    /// seconds, if any).
    NoExecute,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// What the kubelet reports about its node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// The total resources of the node (`cpu`, `memory`, `pods`, `ephemeral-storage`).
    #[serde(
        default,
        skip_serializing_if = "std::collections::BTreeMap::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub capacity: ResourceList,
    /// The resources available to pods: capacity less what the system reserves. The
    /// scheduler fits pods against this.
    #[serde(
        default,
        skip_serializing_if = "std::collections::BTreeMap::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub allocatable: ResourceList,
    /// The node's lifecycle phase (deprecated, rarely set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<NodePhase>,
    /// The latest observations of the node's health.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub conditions: Vec<NodeCondition>,
    /// The addresses the node is reachable at.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub addresses: Vec<NodeAddress>,
    /// The ports of the daemons on the node.
    #[serde(default)]
    pub daemon_endpoints: NodeDaemonEndpoints,
    /// Versions and identifiers of the machine and its software.
    #[serde(default)]
    pub node_info: NodeSystemInfo,
    /// The container images present on the node.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub images: Vec<ContainerImage>,
}

/// The lifecycle phase of a node (deprecated).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum NodePhase {
    /// Created, not yet configured.
    #[default]
    Pending,
    /// Configured and running.
    Running,
    /// Removed from the cluster.
    Terminated,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// One observation of a node's health.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeCondition {
    /// What is observed: `Ready`, `MemoryPressure`, `DiskPressure`, ...
    #[serde(rename = "type", default)]
    pub type_: NodeConditionType,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: ConditionStatus,
    /// When the kubelet last confirmed the condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<Time>,
    /// When the condition last changed status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A machine-readable, UpperCamelCase reason for the last transition
    /// (`"KubeletReady"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable message about the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The kinds of [`NodeCondition`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum NodeConditionType {
    /// The kubelet is healthy and ready to run pods.
    #[default]
    Ready,
    /// The node is short of memory.
    MemoryPressure,
    /// The node is short of disk space.
    DiskPressure,
    /// The node is short of process IDs.
    #[serde(rename = "PIDPressure")]
    PidPressure,
    /// The node's network is not configured.
    NetworkUnavailable,
    /// A condition this version does not know (added by node problem detectors and the
    /// like); kept as written.
    #[serde(untagged)]
    Other(String),
}

/// An address of a node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeAddress {
    /// What kind of address: `InternalIP`, `ExternalIP`, `Hostname`, ...
    #[serde(rename = "type", default)]
    pub type_: NodeAddressType,
    /// The address (`10.0.0.5`, `node-1`).
    #[serde(default)]
    pub address: String,
}

/// The kinds of [`NodeAddress`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum NodeAddressType {
    /// The node's host name.
    Hostname,
    /// An IP reachable from outside the cluster.
    #[serde(rename = "ExternalIP")]
    ExternalIP,
    /// An IP reachable only within the cluster; the one pods and kubelets use.
    #[default]
    #[serde(rename = "InternalIP")]
    InternalIP,
    /// A DNS name resolvable from outside the cluster.
    #[serde(rename = "ExternalDNS")]
    ExternalDNS,
    /// A DNS name resolvable only within the cluster.
    #[serde(rename = "InternalDNS")]
    InternalDNS,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// The ports of the daemons on a node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeDaemonEndpoints {
    /// The kubelet's port.
    #[serde(default)]
    pub kubelet_endpoint: DaemonEndpoint,
}

/// The port a daemon listens on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct DaemonEndpoint {
    /// The port number (Kubernetes spells this field `Port`).
    #[serde(rename = "Port", default)]
    pub port: i32,
}

/// Versions and identifiers of a node's machine and software.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSystemInfo {
    /// The machine ID (`/etc/machine-id`).
    #[serde(rename = "machineID", default)]
    pub machine_id: String,
    /// The system UUID from the firmware.
    #[serde(rename = "systemUUID", default)]
    pub system_uuid: String,
    /// The boot ID; it changes on every reboot.
    #[serde(rename = "bootID", default)]
    pub boot_id: String,
    /// The kernel version (`uname -r`).
    #[serde(default)]
    pub kernel_version: String,
    /// The OS image (`Debian GNU/Linux 12 (bookworm)`).
    #[serde(default)]
    pub os_image: String,
    /// The container runtime and its version (`containerd://1.7.20`).
    #[serde(default)]
    pub container_runtime_version: String,
    /// The kubelet's version.
    #[serde(default)]
    pub kubelet_version: String,
    /// The kube-proxy's version (deprecated; may be empty).
    #[serde(default)]
    pub kube_proxy_version: String,
    /// The operating system (`linux`).
    #[serde(default)]
    pub operating_system: String,
    /// The CPU architecture (`amd64`, `arm64`).
    #[serde(default)]
    pub architecture: String,
}

/// A container image present on a node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerImage {
    /// The names the image is known by (`registry/repo:tag`, `registry/repo@sha256:...`).
    #[serde(default, deserialize_with = "crate::wire::nullable")]
    pub names: Vec<String>,
    /// The image's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core_v1::Protocol;

    fn node(conditions: &serde_json::Value, addresses: &serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n1"},
            "status": {"conditions": conditions, "addresses": addresses}
        }))
        .unwrap()
    }

    #[test]
    fn readiness_comes_from_the_ready_condition() {
        let n = node(
            &json!([
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True", "reason": "KubeletReady"}
            ]),
            &json!([]),
        );
        assert!(n.is_ready());
        let ready = n.condition(&NodeConditionType::Ready).unwrap();
        assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
        assert_eq!(
            n.condition(&NodeConditionType::MemoryPressure)
                .map(|c| &c.status),
            Some(&ConditionStatus::False)
        );
        assert!(n.condition(&NodeConditionType::DiskPressure).is_none());
        for status in ["False", "Unknown"] {
            let n = node(&json!([{"type": "Ready", "status": status}]), &json!([]));
            assert!(!n.is_ready(), "{status}");
        }
        assert!(!Node::default().is_ready());
    }

    #[test]
    fn unknown_condition_types_are_kept() {
        let n = node(
            &json!([{"type": "KernelDeadlock", "status": "False"}, {"type": "PIDPressure", "status": "False"}]),
            &json!([]),
        );
        assert!(
            n.condition(&NodeConditionType::Other("KernelDeadlock".into()))
                .is_some()
        );
        assert!(n.condition(&NodeConditionType::PidPressure).is_some());
        let out = serde_json::to_value(&n).unwrap();
        assert_eq!(out["status"]["conditions"][0]["type"], "KernelDeadlock");
        assert_eq!(out["status"]["conditions"][1]["type"], "PIDPressure");
    }

    #[test]
    fn internal_ip_is_the_first_internal_address() {
        let n = node(
            &json!([]),
            &json!([
                {"type": "Hostname", "address": "n1"},
                {"type": "InternalIP", "address": "10.0.0.5"},
                {"type": "InternalIP", "address": "fd00::5"},
                {"type": "ExternalIP", "address": "203.0.113.5"}
            ]),
        );
        assert_eq!(n.internal_ip(), Some("10.0.0.5"));
        assert_eq!(n.address(&NodeAddressType::ExternalIP), Some("203.0.113.5"));
        assert_eq!(n.address(&NodeAddressType::Hostname), Some("n1"));
        assert_eq!(Node::default().internal_ip(), None);
    }

    #[test]
    fn enums_keep_unknown_values() {
        let e: TaintEffect = serde_json::from_str(r#""NoExecute""#).unwrap();
        assert_eq!(e, TaintEffect::NoExecute);
        let e: TaintEffect = serde_json::from_str(r#""Sometimes""#).unwrap();
        assert_eq!(e, TaintEffect::Other("Sometimes".into()));
        assert_eq!(serde_json::to_string(&e).unwrap(), r#""Sometimes""#);
        let p: Protocol = serde_json::from_str(r#""SCTP""#).unwrap();
        assert_eq!(p, Protocol::Sctp);
        assert_eq!(serde_json::to_string(&Protocol::Udp).unwrap(), r#""UDP""#);
        assert_eq!(Protocol::default(), Protocol::Tcp);
    }

    #[test]
    fn an_empty_status_encodes_as_kubernetes_does() {
        let n: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
        let out = serde_json::to_value(&n).unwrap();
        assert_eq!(out["spec"], json!({}));
        assert_eq!(
            out["status"]["daemonEndpoints"],
            json!({"kubeletEndpoint": {"Port": 0}})
        );
        assert_eq!(out["status"]["nodeInfo"]["machineID"], "");
        assert!(out["status"].get("conditions").is_none());
    }
}
