//! [`KubeletConfig`]: every setting of the node agent, with Kubernetes' defaults.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use kube_core::{ResourceList, Taint};

/// Settings of a [`Kubelet`](super::Kubelet). Every period is configurable so that tests
/// run fast; the defaults are Kubernetes'.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeletConfig {
    /// The Node's name (and the Lease's, and the pods' `spec.nodeName`).
    pub node_name: String,
    /// Labels added to the Node at registration, beside the well-known ones
    /// (`kubernetes.io/hostname`, `kubernetes.io/os`, `kubernetes.io/arch`).
    pub node_labels: BTreeMap<String, String>,
    /// Taints the Node registers with (`--register-with-taints`).
    pub register_with_taints: Vec<Taint>,
    /// The pod CIDR; when `None`, the agent waits for `node.spec.podCIDR`.
    pub pod_cidr: Option<String>,
    /// The node's capacity; `None` reads the machine (CPUs, memory, disk).
    pub capacity: Option<ResourceList>,
    /// Resources kept back from pods: allocatable = capacity - this.
    pub system_reserved: ResourceList,
    /// The most pods the node runs (`pods` capacity, 110 by default).
    pub max_pods: u32,
    /// The node's InternalIP address (and the pods' `hostIP`).
    pub node_ip: IpAddr,
    /// The node's Hostname address.
    pub hostname: String,
    /// The Lease's `leaseDurationSeconds` (40).
    pub lease_duration_seconds: i32,
    /// How often the Lease is renewed (10 s).
    pub lease_renew_interval: Duration,
    /// How often node conditions are recomputed, and written when they changed (10 s).
    pub node_status_update_frequency: Duration,
    /// How often the node status is written even when nothing changed (5 min).
    pub node_status_report_frequency: Duration,
    /// How often a pod worker re-reads its containers from the runtime when nothing else
    /// wakes it (the PLEG relist period, 1 s).
    pub sync_period: Duration,
    /// Container restart back-off: the first delay (10 s).
    pub backoff_initial: Duration,
    /// Container restart back-off: the longest delay (5 min).
    pub backoff_max: Duration,
    /// A container that ran this long before exiting restarts without delay again (10 min).
    pub backoff_reset_after: Duration,
    /// Where container logs go: `<dir>/<namespace>_<name>_<uid>/<container>/<attempt>.log`.
    pub pod_log_dir: PathBuf,
    /// The HTTPS endpoint for container logs; `None` serves none.
    pub server: Option<ServerConfig>,
    /// The default grace period of pods that say none (30 s).
    pub default_termination_grace: Duration,
    /// Memory below which the node reports MemoryPressure (100 MiB available).
    pub eviction_memory_available: u64,
    /// Free disk fraction below which the node reports DiskPressure (10 %).
    pub eviction_disk_available_fraction: f64,
    /// Record Events about pods (`Pulled`, `Started`, `Killing`, `BackOff`...); a large
    /// simulation may turn them off to spare the API server.
    pub record_events: bool,
}

impl Default for KubeletConfig {
    fn default() -> Self {
        let hostname = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        Self {
            node_name: hostname.clone(),
            node_labels: BTreeMap::new(),
            register_with_taints: Vec::new(),
            pod_cidr: None,
            capacity: None,
            system_reserved: ResourceList::new(),
            max_pods: 110,
            node_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            hostname,
            lease_duration_seconds: 40,
            lease_renew_interval: Duration::from_secs(10),
            node_status_update_frequency: Duration::from_secs(10),
            node_status_report_frequency: Duration::from_secs(300),
            sync_period: Duration::from_secs(1),
            backoff_initial: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            backoff_reset_after: Duration::from_secs(600),
            pod_log_dir: PathBuf::from("/var/log/pods"),
            server: Some(ServerConfig::default()),
            default_termination_grace: Duration::from_secs(30),
            eviction_memory_available: 100 * 1024 * 1024,
            eviction_disk_available_fraction: 0.10,
            record_events: true,
        }
    }
}

/// The node agent's HTTPS server (container logs, health).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where to listen; port 0 picks a free port, which the Node then reports in
    /// `status.daemonEndpoints.kubeletEndpoint.Port`. Default `0.0.0.0:10250`.
    pub addr: SocketAddr,
    /// The cluster CA (PEM). When set, clients must present a certificate it signed (the
    /// API server's kubelet-client certificate); when `None`, any client is served.
    pub client_ca_pem: Option<String>,
    /// The serving certificate and key (PEM); `None` makes a self-signed one for the
    /// node's name and addresses, as the kubelet does.
    pub serving_cert: Option<(String, String)>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 10250),
            client_ca_pem: None,
            serving_cert: None,
        }
    }
}
