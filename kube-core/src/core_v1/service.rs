//! `Service`: a stable virtual IP and DNS name in front of a set of pods; also the
//! [`Protocol`] enum that ports share, and [`Condition`] (`metav1.Condition`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core_v1::ConditionStatus;
use crate::int_or_string::IntOrString;
use crate::meta::ObjectMeta;
use crate::time::Time;

/// The transport protocol of a port (`TCP`, `UDP` or `SCTP`); Kubernetes defaults it to
/// `TCP`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Protocol {
    /// TCP, the default.
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// SCTP.
    #[serde(rename = "SCTP")]
    Sctp,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// A named, stable address for a set of pods (`v1.Service`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The ports, the selected pods and how the service is exposed.
    #[serde(default)]
    pub spec: ServiceSpec,
    /// The load balancer the cloud provisioned, if any, and conditions.
    #[serde(default)]
    pub status: ServiceStatus,
}

crate::impl_resource!(Service {
    group: "", version: "v1", kind: "Service", plural: "services", namespaced: true,
    short_names: ["svc"], categories: ["all"],
    fields: { metadata: "metadata", spec: "spec", status: "status" }
});

impl Service {
    /// The service's virtual IP; `None` when it has none yet, and for headless services
    /// (`clusterIP: None`) and ExternalName services.
    pub fn cluster_ip(&self) -> Option<&str> {
        self.spec
            .cluster_ip
            .as_deref()
            .filter(|ip| !ip.is_empty() && *ip != "None")
    }

    /// True for headless services (`clusterIP: None`): DNS returns the pod IPs directly.
    pub fn is_headless(&self) -> bool {
        self.spec.cluster_ip.as_deref() == Some("None")
    }

    /// The service type, `ClusterIP` when not set.
    pub fn service_type(&self) -> ServiceType {
        self.spec.type_.clone().unwrap_or_default()
    }

    /// The port named `name`.
    pub fn port(&self, name: &str) -> Option<&ServicePort> {
        self.spec
            .ports
            .iter()
            .find(|p| p.name.as_deref().unwrap_or("") == name)
    }
}

/// The ports, selected pods and exposure of a [`Service`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// The ports the service exposes.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub ports: Vec<ServicePort>,
    /// Traffic goes to the pods whose labels match; empty means the endpoints are
    /// managed by someone else.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub selector: BTreeMap<String, String>,
    /// The virtual IP, allocated by the server unless given; `None` for headless services.
    #[serde(rename = "clusterIP", default, skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<String>,
    /// The virtual IPs, one per IP family; the first equals `clusterIP`.
    #[serde(
        rename = "clusterIPs",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub cluster_ips: Vec<String>,
    /// How the service is exposed; `ClusterIP` when not set.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<ServiceType>,
    /// Extra IPs, routed to the nodes by someone else, on which the service also accepts
    /// traffic.
    #[serde(
        rename = "externalIPs",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub external_ips: Vec<String>,
    /// `ClientIP` to send each client to the same pod; `None` when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity: Option<SessionAffinity>,
    /// The IP asked of the load balancer (deprecated, implementation-specific).
    #[serde(
        rename = "loadBalancerIP",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub load_balancer_ip: Option<String>,
    /// Client CIDRs the cloud load balancer accepts traffic from.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub load_balancer_source_ranges: Vec<String>,
    /// For `ExternalName` services: the DNS name the service's name is a CNAME of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
    /// For traffic from outside (node ports, load balancers): `Cluster` spreads it over
    /// every endpoint, `Local` keeps it on the node that received it (and the client IP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_traffic_policy: Option<ServiceTrafficPolicy>,
    /// The node port cloud load balancers health-check, for `Local` external traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_node_port: Option<i32>,
    /// When true, endpoints include pods that are not ready (for peer discovery).
    #[serde(default, skip_serializing_if = "crate::wire::is_false")]
    pub publish_not_ready_addresses: bool,
    /// Settings of the session affinity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity_config: Option<SessionAffinityConfig>,
    /// The IP families of the service (`IPv4`, `IPv6`), in the order of `clusterIPs`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub ip_families: Vec<IpFamily>,
    /// Whether the service is single-stack or dual-stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family_policy: Option<IpFamilyPolicy>,
    /// For `LoadBalancer` services: whether node ports are allocated (true by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocate_load_balancer_node_ports: Option<bool>,
    /// The load balancer implementation that handles the service, when not the cloud
    /// provider's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_class: Option<String>,
    /// For traffic from inside the cluster: `Local` keeps it on the node it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_traffic_policy: Option<ServiceTrafficPolicy>,
    /// A preference for how traffic is spread over endpoints (`PreferClose`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_distribution: Option<String>,
}

/// One port of a [`Service`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// The port's name, unique in the service; required when there are several ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The protocol; `TCP` when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The application protocol (`"http"`, `"kubernetes.io/h2c"`), a hint for
    /// implementations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// The port the service exposes on its IPs.
    #[serde(default)]
    pub port: i32,
    /// The pods' port: a number, or the name of a container port. Defaults to `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    /// The port on every node, for `NodePort` and `LoadBalancer` services; allocated by
    /// the server unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<i32>,
}

impl ServicePort {
    /// The protocol, `TCP` when not set.
    pub fn protocol(&self) -> Protocol {
        self.protocol.clone().unwrap_or_default()
    }
}

/// How a [`Service`] is exposed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ServiceType {
    /// A virtual IP reachable within the cluster; the default.
    #[default]
    #[serde(rename = "ClusterIP")]
    ClusterIP,
    /// A cluster IP, plus a port on every node.
    NodePort,
    /// A node port, plus a load balancer provisioned by the cloud provider.
    LoadBalancer,
    /// A DNS alias (CNAME) of `externalName`; no proxying.
    ExternalName,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// Session affinity of a [`Service`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SessionAffinity {
    /// Each connection may go to any endpoint; the default.
    #[default]
    None,
    /// Connections from one client IP go to the same endpoint, for a while.
    #[serde(rename = "ClientIP")]
    ClientIP,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// Settings of a [`Service`]'s session affinity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionAffinityConfig {
    /// Settings of `ClientIP` affinity.
    #[serde(rename = "clientIP", default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<ClientIpConfig>,
}

/// Settings of `ClientIP` session affinity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientIpConfig {
    /// How long a client sticks to its endpoint, in seconds (1 to 86400; 10800 when not
    /// set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
}

/// Where a [`Service`]'s traffic may go: any endpoint, or only those on the receiving
/// node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ServiceTrafficPolicy {
    /// Any ready endpoint in the cluster; the default.
    #[default]
    Cluster,
    /// Only endpoints on the node that received the traffic.
    Local,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// An IP family.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum IpFamily {
    /// IPv4.
    #[default]
    #[serde(rename = "IPv4")]
    IPv4,
    /// IPv6.
    #[serde(rename = "IPv6")]
    IPv6,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// Whether a [`Service`] has one IP family or two.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum IpFamilyPolicy {
    /// One IP family; the default.
    #[default]
    SingleStack,
    /// Two IP families where the cluster has them, else one.
    PreferDualStack,
    /// Two IP families, or the service is rejected.
    RequireDualStack,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// The observed state of a [`Service`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// The load balancer provisioned for the service, if any.
    #[serde(default)]
    pub load_balancer: LoadBalancerStatus,
    /// The latest observations of the service's state.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub conditions: Vec<Condition>,
}

/// A provisioned load balancer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    /// The load balancer's addresses.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub ingress: Vec<LoadBalancerIngress>,
}

/// One address of a load balancer: an IP or a host name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerIngress {
    /// The IP, for IP-based load balancers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The host name, for DNS-based load balancers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `VIP` when traffic reaches the nodes with the load balancer's IP as destination,
    /// `Proxy` when the load balancer rewrites it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_mode: Option<LoadBalancerIpMode>,
    /// The status of each service port on this address.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::wire::nullable"
    )]
    pub ports: Vec<PortStatus>,
}

/// How traffic reaches the nodes from a load balancer's address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum LoadBalancerIpMode {
    /// The destination is the load balancer's IP; node proxies may short-circuit it.
    #[default]
    #[serde(rename = "VIP")]
    Vip,
    /// The load balancer proxies, so in-cluster traffic must go through it too.
    Proxy,
    /// A value this version does not know; kept as written so validation can reject it.
    #[serde(untagged)]
    Other(String),
}

/// The status of one port of a load balancer address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortStatus {
    /// The port number.
    #[serde(default)]
    pub port: i32,
    /// The port's protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// Why the port failed, as a CamelCase reason; `None` when it works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One observation of an object's state (`metav1.Condition`), as newer kinds report them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// What is observed, in CamelCase (`Available`, `Progressing`, ...).
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: ConditionStatus,
    /// The `metadata.generation` the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the condition last changed status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A machine-readable, CamelCase reason for the last transition.
    #[serde(default)]
    pub reason: String,
    /// A human-readable message about the last transition; may be empty.
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn service(spec: &serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": spec})).unwrap()
    }

    #[test]
    fn cluster_ip_skips_headless_and_unallocated_services() {
        let s = service(&json!({"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"]}));
        assert_eq!(s.cluster_ip(), Some("10.96.0.10"));
        assert!(!s.is_headless());
        let headless = service(&json!({"clusterIP": "None"}));
        assert_eq!(headless.cluster_ip(), None);
        assert!(headless.is_headless());
        assert_eq!(service(&json!({"clusterIP": ""})).cluster_ip(), None);
        assert_eq!(Service::default().cluster_ip(), None);
    }

    #[test]
    fn defaults_follow_kubernetes() {
        let s = service(
            &json!({"ports": [{"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}),
        );
        assert_eq!(s.service_type(), ServiceType::ClusterIP);
        assert_eq!(s.spec.ports[0].protocol(), Protocol::Tcp);
        assert_eq!(
            s.port("dns").map(ServicePort::protocol),
            Some(Protocol::Udp)
        );
        assert_eq!(s.port("").map(|p| p.port), Some(80));
        assert_eq!(SessionAffinity::default(), SessionAffinity::None);
        let lb = service(
            &json!({"type": "LoadBalancer", "sessionAffinity": "ClientIP",
            "externalTrafficPolicy": "Local", "ipFamilies": ["IPv4", "IPv6"],
            "ipFamilyPolicy": "PreferDualStack"}),
        );
        assert_eq!(lb.service_type(), ServiceType::LoadBalancer);
        assert_eq!(lb.spec.session_affinity, Some(SessionAffinity::ClientIP));
        assert_eq!(
            lb.spec.external_traffic_policy,
            Some(ServiceTrafficPolicy::Local)
        );
        assert_eq!(lb.spec.ip_families, vec![IpFamily::IPv4, IpFamily::IPv6]);
        assert_eq!(
            lb.spec.ip_family_policy,
            Some(IpFamilyPolicy::PreferDualStack)
        );
    }

    #[test]
    fn unknown_enum_values_round_trip() {
        let s = service(&json!({"type": "Mesh", "ports": [{"port": 1, "protocol": "QUIC"}]}));
        assert_eq!(s.spec.type_, Some(ServiceType::Other("Mesh".into())));
        let out = serde_json::to_value(&s).unwrap();
        assert_eq!(out["spec"]["type"], "Mesh");
        assert_eq!(out["spec"]["ports"][0]["protocol"], "QUIC");
        assert_eq!(out["status"], json!({"loadBalancer": {}}));
    }
}
