//! [`ReferenceCluster`]: a whole cluster in one process, as the `reference-cluster`
//! example runs it: a control plane serving HTTPS, and node agents whose containers are
//! real host processes, with a userspace service proxy, and the cloud controller manager on
//! [`LocalCloud`](kube_ctrl::cloud::LocalCloud) so that `LoadBalancer` Services get an
//! address that answers on this machine.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use kube_ctrl::cloud::{CloudConfig, LocalCloud, LocalCloudConfig};
use kube_net::{Cidr, UserspaceConfig, UserspaceProxy};
use kube_node::{KubeletConfig, ProcessRuntime, ProcessRuntimeConfig};

use crate::error::BuildError;
use crate::node_agent::{NodeAgent, RunningNodeAgent};
use crate::{ControlPlaneBuilder, RunningControlPlane, StoreChoice};

/// Settings of a [`ReferenceCluster`].
#[derive(Clone, Debug)]
pub struct ReferenceClusterConfig {
    /// Where the cluster state lives.
    pub store: StoreChoice,
    /// Where HTTPS is served.
    pub listen: SocketAddr,
    /// Where the PKI, the node agents' state and the container logs live.
    pub state_dir: PathBuf,
    /// How many node agents run (named `node-1`, `node-2`, ...).
    pub nodes: usize,
    /// Give each pod its own network namespace and IP when running as root (each node
    /// gets a bridge of its own and a pod CIDR from the controller manager).
    pub pod_network: bool,
    /// Run the userspace service proxy, so that Services' ClusterIPs answer on this
    /// machine (as root it makes the service range local).
    pub service_proxy: bool,
    /// How long pods get to stop when the cluster shuts down.
    pub termination_grace: Duration,
    /// Run the cloud controller manager on a [`LocalCloud`] that hands `LoadBalancer`
    /// Services addresses from [`LOAD_BALANCER_CIDR`], served by the service proxy.
    pub local_cloud: bool,
    /// Free disk fraction below which a node reports DiskPressure and takes no new pods
    /// (the kubelet's `nodefs.available<10%`: 0.10); 0 turns the check off, for a
    /// machine whose disk is fuller than a cluster would tolerate.
    pub eviction_disk_available_fraction: f64,
}

/// The range the reference cluster's [`LocalCloud`] gives load balancers their addresses
/// from (`172.30.255.0/24`); the service proxy makes it local, as it does the ClusterIPs.
pub const LOAD_BALANCER_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(172, 30, 255, 0), 24);

impl Default for ReferenceClusterConfig {
    fn default() -> Self {
        Self {
            store: StoreChoice::Memory,
            listen: SocketAddr::from(([127, 0, 0, 1], 6443)),
            state_dir: PathBuf::from(".data"),
            nodes: 2,
            pod_network: true,
            service_proxy: true,
            termination_grace: Duration::from_secs(10),
            local_cloud: true,
            eviction_disk_available_fraction: KubeletConfig::default()
                .eviction_disk_available_fraction,
        }
    }
}

/// A control plane and its node agents in one process.
pub struct ReferenceCluster {
    control_plane: RunningControlPlane,
    nodes: Vec<RunningNodeAgent>,
    grace: Duration,
}

impl fmt::Debug for ReferenceCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReferenceCluster")
            .field("url", &self.control_plane.url())
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

impl ReferenceCluster {
    /// Starts the control plane (customised by `customize`), then the node agents; returns
    /// once every Node is registered.
    pub async fn start(
        config: ReferenceClusterConfig,
        customize: impl FnOnce(ControlPlaneBuilder) -> ControlPlaneBuilder,
    ) -> Result<Self, BuildError> {
        if config.nodes == 0 {
            return Err(BuildError::Config(
                "a reference cluster needs at least one node".into(),
            ));
        }
        let pki_dir = config.state_dir.join("pki");
        let mut builder = crate::ControlPlane::builder()
            .store(config.store.clone())
            .listen(config.listen)
            .pki_dir(&pki_dir);
        if config.local_cloud {
            let (first, prefix) = LOAD_BALANCER_CIDR;
            let base = u32::from(first);
            let last = base | (u32::MAX >> prefix);
            let cloud = LocalCloud::new(LocalCloudConfig {
                lb_first: Ipv4Addr::from(base + 1),
                lb_last: Ipv4Addr::from(last - 1),
                ..LocalCloudConfig::default()
            })
            .map_err(|e| BuildError::Config(format!("the local cloud: {e}")))?;
            builder = builder.cloud_provider(cloud, CloudConfig::default());
        }
        let control_plane = customize(builder).build().await?.start().await?;

        let mut nodes = Vec::with_capacity(config.nodes);
        for i in 1..=config.nodes {
            let name = format!("node-{i}");
            let dir = config.state_dir.join("nodes").join(&name);
            let mut runtime_config = ProcessRuntimeConfig::new(dir.join("state"));
            runtime_config.pod_network = config.pod_network;
            runtime_config.bridge = format!("kbr{i}");
            runtime_config.cgroup_parent = format!("kube-sdk/{name}");
            let runtime =
                ProcessRuntime::new(runtime_config).map_err(|source| BuildError::Runtime {
                    node: name.clone(),
                    source,
                })?;
            let (client, ca) = control_plane.node_client(&name);
            let mut agent = NodeAgent::builder()
                .kubelet_config(KubeletConfig {
                    eviction_disk_available_fraction: config.eviction_disk_available_fraction,
                    ..KubeletConfig::default()
                })
                .client(client, ca)
                .node_name(&name)
                // Pod CIDRs from the controller manager's cluster CIDR, given at once so
                // that no pod waits for the node IPAM controller.
                .pod_cidr(format!("10.244.{i}.0/24"))
                .server_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
                .log_dir(dir.join("logs"))
                .runtime(runtime);
            // One proxy per machine: the ClusterIPs are local addresses of the host, which
            // every node of this cluster shares.
            if config.service_proxy && i == 1 {
                let mut proxy = UserspaceConfig::default();
                if config.local_cloud {
                    let (first, prefix) = LOAD_BALANCER_CIDR;
                    proxy
                        .service_cidrs
                        .extend(Cidr::new(IpAddr::V4(first), prefix));
                }
                agent = agent.userspace_proxy(UserspaceProxy::new(proxy));
            }
            let agent = agent.build()?.start().await?;
            tracing::info!(node = %name, "node agent started");
            nodes.push(agent);
        }
        Ok(Self {
            control_plane,
            nodes,
            grace: config.termination_grace,
        })
    }

    /// The control plane.
    pub fn control_plane(&self) -> &RunningControlPlane {
        &self.control_plane
    }

    /// The node agents.
    pub fn nodes(&self) -> &[RunningNodeAgent] {
        &self.nodes
    }

    /// Stops the node agents and their pods (each pod gets the configured grace), then
    /// the control plane.
    pub async fn shutdown(self) {
        let grace = self.grace;
        futures::future::join_all(
            self.nodes
                .into_iter()
                .map(|node| node.shutdown_and_stop_pods(grace)),
        )
        .await;
        self.control_plane.shutdown().await;
    }
}
