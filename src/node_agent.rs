//! [`NodeAgent`]: a node of the cluster: the kubelet with a container runtime, and a
//! service proxy with a data plane, built from one [`NodeAgentBuilder`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube_api::client::{Client, Kubeconfig};
use kube_api::informer::SharedInformerFactory;
use kube_core::runtime::{ContainerFilter, ContainerState, PodSandboxFilter};
use kube_core::{NetworkProxy, ResourceList, Runtime, Taint};
use kube_net::{ServiceProxy, ServiceProxyConfig, ServiceProxyHandle, UserspaceProxy};
use kube_node::{Kubelet, KubeletConfig, RunningKubelet};

use crate::error::BuildError;

/// Where a node agent reaches the API server.
#[derive(Clone)]
enum Endpoint {
    /// An in-process client (a node of a cluster in the same process).
    Client {
        client: Client,
        cluster_ca_pem: Option<String>,
    },
    /// A kubeconfig file (a node on another machine).
    Kubeconfig(PathBuf),
}

/// Builds a [`NodeAgent`]. Start from [`NodeAgent::builder`].
///
/// The API endpoint and the runtime are required; the rest has Kubernetes' defaults. A
/// service proxy runs only when a data plane is given ([`proxy`](Self::proxy)).
#[must_use]
pub struct NodeAgentBuilder {
    endpoint: Option<Endpoint>,
    runtime: Option<Arc<dyn Runtime>>,
    proxy: Option<DataPlane>,
    proxy_config: ServiceProxyConfig,
    kubelet: KubeletConfig,
}

/// The service proxy's data plane, and what to undo when the node stops.
#[derive(Clone)]
struct DataPlane {
    proxy: Arc<dyn NetworkProxy>,
    /// The userspace proxy holds listeners and a local route for the service range.
    userspace: Option<UserspaceProxy>,
}

impl fmt::Debug for NodeAgentBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeAgentBuilder")
            .field("node_name", &self.kubelet.node_name)
            .field("runtime", &self.runtime.is_some())
            .field("proxy", &self.proxy.is_some())
            .finish_non_exhaustive()
    }
}

impl NodeAgentBuilder {
    /// Talks to the API server through this client (in process). `cluster_ca_pem`, when
    /// given, is the CA the log endpoint requires the API server's client certificate to
    /// chain to; [`RunningControlPlane::node_client`](crate::RunningControlPlane::node_client)
    /// hands out both.
    pub fn client(mut self, client: Client, cluster_ca_pem: Option<String>) -> Self {
        self.endpoint = Some(Endpoint::Client {
            client,
            cluster_ca_pem,
        });
        self
    }

    /// Talks to the API server named by this kubeconfig's current context (over HTTPS);
    /// its CA also guards the node's log endpoint.
    pub fn kubeconfig(mut self, path: impl Into<PathBuf>) -> Self {
        self.endpoint = Some(Endpoint::Kubeconfig(path.into()));
        self
    }

    /// The node's name (default: the machine's host name).
    pub fn node_name(mut self, name: impl Into<String>) -> Self {
        self.kubelet.node_name = name.into();
        self
    }

    /// The node's capacity (default: read from the machine).
    pub fn capacity(mut self, capacity: ResourceList) -> Self {
        self.kubelet.capacity = Some(capacity);
        self
    }

    /// Labels the Node registers with.
    pub fn labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.kubelet.node_labels.extend(labels);
        self
    }

    /// Taints the Node registers with.
    pub fn taints(mut self, taints: impl IntoIterator<Item = Taint>) -> Self {
        self.kubelet.register_with_taints.extend(taints);
        self
    }

    /// The pod CIDR (default: the one the controller manager assigns to the Node).
    pub fn pod_cidr(mut self, cidr: impl Into<String>) -> Self {
        self.kubelet.pod_cidr = Some(cidr.into());
        self
    }

    /// The node's InternalIP (default: loopback).
    pub fn node_ip(mut self, ip: IpAddr) -> Self {
        self.kubelet.node_ip = ip;
        self
    }

    /// Where the log endpoint listens (default `0.0.0.0:10250`; port 0 picks one).
    pub fn server_addr(mut self, addr: SocketAddr) -> Self {
        if let Some(server) = &mut self.kubelet.server {
            server.addr = addr;
        }
        self
    }

    /// Where container logs are written (default `/var/log/pods`).
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.kubelet.pod_log_dir = dir.into();
        self
    }

    /// Every kubelet setting at once (periods, back-off, eviction thresholds, ...). The
    /// other methods change this configuration, so call this one first.
    pub fn kubelet_config(mut self, config: KubeletConfig) -> Self {
        self.kubelet = config;
        self
    }

    /// The container runtime (required): `ProcessRuntime`, `SimRuntime`, `CriRuntime`
    /// (feature `cri`) or a platform's own.
    pub fn runtime(mut self, runtime: impl Runtime) -> Self {
        self.runtime = Some(Arc::new(runtime));
        self
    }

    /// Like [`runtime`](Self::runtime), with a shared runtime.
    pub fn runtime_arc(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Runs a service proxy with this data plane (`UserspaceProxy`, `IptablesProxy`,
    /// `NftablesProxy`, or a platform's own).
    pub fn proxy(mut self, data_plane: impl NetworkProxy) -> Self {
        self.proxy = Some(DataPlane {
            proxy: Arc::new(data_plane),
            userspace: None,
        });
        self
    }

    /// Runs a service proxy with the userspace data plane, and shuts it down with the
    /// agent (closing its listeners and removing the local route of the service range).
    pub fn userspace_proxy(mut self, data_plane: UserspaceProxy) -> Self {
        self.proxy = Some(DataPlane {
            proxy: Arc::new(data_plane.clone()),
            userspace: Some(data_plane),
        });
        self
    }

    /// The service proxy's settings (sync intervals).
    pub fn proxy_config(mut self, config: ServiceProxyConfig) -> Self {
        self.proxy_config = config;
        self
    }

    /// Checks the settings and makes the client. Nothing runs until
    /// [`NodeAgent::start`].
    pub fn build(self) -> Result<NodeAgent, BuildError> {
        let runtime = self.runtime.ok_or_else(|| {
            BuildError::Config("a node agent needs a container runtime (runtime)".into())
        })?;
        let endpoint = self.endpoint.ok_or_else(|| {
            BuildError::Config(
                "a node agent needs an API server: client(..) in process, or kubeconfig(..)".into(),
            )
        })?;
        let problems = kube_core::selector::validate_dns1123_subdomain(&self.kubelet.node_name);
        if !problems.is_empty() {
            return Err(BuildError::Config(format!(
                "invalid node name {:?}: {}",
                self.kubelet.node_name,
                problems.join("; ")
            )));
        }
        let (client, ca) = match endpoint {
            Endpoint::Client {
                client,
                cluster_ca_pem,
            } => (client, cluster_ca_pem),
            Endpoint::Kubeconfig(path) => {
                let kubeconfig =
                    Kubeconfig::read_from(&path).map_err(|source| BuildError::Kubeconfig {
                        path: path.clone(),
                        source,
                    })?;
                let ca = kubeconfig_ca(&kubeconfig);
                let client = Client::try_from_kubeconfig(&kubeconfig, None)
                    .map_err(|source| BuildError::Kubeconfig { path, source })?;
                (client, ca)
            }
        };
        let mut kubelet = self.kubelet;
        if let Some(server) = &mut kubelet.server
            && server.client_ca_pem.is_none()
        {
            server.client_ca_pem = ca;
        }
        Ok(NodeAgent {
            client,
            runtime,
            proxy: self.proxy,
            proxy_config: self.proxy_config,
            kubelet,
        })
    }
}

/// The CA of the kubeconfig's current cluster, as PEM.
fn kubeconfig_ca(kubeconfig: &Kubeconfig) -> Option<String> {
    let context = kubeconfig.context(None).ok()?;
    let cluster = kubeconfig.cluster(&context.context.cluster).ok()?;
    if let Some(data) = &cluster.certificate_authority_data {
        use base64::Engine as _;
        let pem = base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()?;
        return String::from_utf8(pem).ok();
    }
    let path = kubeconfig.resolve(cluster.certificate_authority.as_deref()?);
    std::fs::read_to_string(path).ok()
}

/// A built node agent.
///
/// ```
/// use kube_sdk::{ControlPlane, NodeAgent};
/// use kube_sdk::node::SimRuntime;
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let cluster = ControlPlane::builder().build().await?.start().await?;
/// let (client, ca) = cluster.node_client("node-1");
/// let node = NodeAgent::builder()
///     .client(client, ca)
///     .node_name("node-1")
///     .server_addr("127.0.0.1:0".parse()?)
///     .log_dir(std::env::temp_dir().join("kube-sdk-doc-logs"))
///     .runtime(SimRuntime::new())
///     .build()?
///     .start()
///     .await?;
/// node.shutdown().await;
/// cluster.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct NodeAgent {
    client: Client,
    runtime: Arc<dyn Runtime>,
    proxy: Option<DataPlane>,
    proxy_config: ServiceProxyConfig,
    kubelet: KubeletConfig,
}

impl fmt::Debug for NodeAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeAgent")
            .field("node_name", &self.kubelet.node_name)
            .field("proxy", &self.proxy.is_some())
            .finish_non_exhaustive()
    }
}

impl NodeAgent {
    /// A builder with Kubernetes' defaults.
    pub fn builder() -> NodeAgentBuilder {
        NodeAgentBuilder {
            endpoint: None,
            runtime: None,
            proxy: None,
            proxy_config: ServiceProxyConfig::default(),
            kubelet: KubeletConfig::default(),
        }
    }

    /// Registers the Node and starts the kubelet's loops and the service proxy. Returns
    /// once the Node is registered.
    pub async fn start(self) -> Result<RunningNodeAgent, BuildError> {
        let node_name = self.kubelet.node_name.clone();
        let kubelet = Kubelet::builder_arc(self.client.clone(), Arc::clone(&self.runtime))
            .config(self.kubelet)
            .build()
            .start()
            .await
            .map_err(|source| BuildError::Kubelet {
                node: node_name,
                source,
            })?;
        let (proxy, userspace) = match self.proxy {
            Some(data_plane) => {
                let factory = SharedInformerFactory::new(self.client.clone());
                let handle = ServiceProxy::with_shared(factory, data_plane.proxy)
                    .config(self.proxy_config)
                    .spawn();
                (Some(handle), data_plane.userspace)
            }
            None => (None, None),
        };
        Ok(RunningNodeAgent {
            kubelet,
            proxy,
            userspace,
            runtime: self.runtime,
        })
    }
}

/// A running node agent.
pub struct RunningNodeAgent {
    kubelet: RunningKubelet,
    proxy: Option<ServiceProxyHandle>,
    userspace: Option<UserspaceProxy>,
    runtime: Arc<dyn Runtime>,
}

impl fmt::Debug for RunningNodeAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningNodeAgent")
            .field("node_name", &self.kubelet.node_name())
            .field("proxy", &self.proxy.is_some())
            .finish_non_exhaustive()
    }
}

impl RunningNodeAgent {
    /// The node's name.
    pub fn node_name(&self) -> &str {
        self.kubelet.node_name()
    }

    /// Where the log endpoint listens.
    pub fn server_addr(&self) -> Option<SocketAddr> {
        self.kubelet.server_addr()
    }

    /// The kubelet.
    pub fn kubelet(&self) -> &RunningKubelet {
        &self.kubelet
    }

    /// The service proxy, when one runs.
    pub fn proxy(&self) -> Option<&ServiceProxyHandle> {
        self.proxy.as_ref()
    }

    /// Waits until the service proxy has programmed its data plane once (at once when
    /// none runs).
    pub async fn wait_for_proxy(&self) {
        if let Some(proxy) = &self.proxy {
            proxy.wait_for_first_sync().await;
        }
    }

    /// Stops the agent and the proxy. The containers keep running: a new agent on the
    /// same runtime adopts them, as after a kubelet restart.
    pub async fn shutdown(self) {
        if let Some(proxy) = self.proxy {
            proxy.shutdown().await;
        }
        if let Some(data_plane) = self.userspace {
            data_plane.shutdown().await;
        }
        self.kubelet.shutdown().await;
    }

    /// Stops the agent, then every container on the node (a polite signal, at most
    /// `grace`, then a kill) and every sandbox: a node going away for good, as the
    /// kubelet's graceful node shutdown does.
    pub async fn shutdown_and_stop_pods(self, grace: Duration) {
        let runtime = Arc::clone(&self.runtime);
        let node = self.node_name().to_owned();
        self.shutdown().await;
        let running = ContainerFilter {
            state: Some(ContainerState::Running),
            ..ContainerFilter::default()
        };
        match runtime.list_containers(&running).await {
            Ok(containers) => {
                let stops = containers.iter().map(|c| {
                    let runtime = Arc::clone(&runtime);
                    async move {
                        if let Err(e) = runtime.stop_container(&c.id, grace).await {
                            tracing::warn!(container = %c.id, error = %e, "stopping a container failed");
                        }
                    }
                });
                futures::future::join_all(stops).await;
            }
            Err(e) => tracing::warn!(%node, error = %e, "cannot list the containers to stop"),
        }
        match runtime
            .list_pod_sandboxes(&PodSandboxFilter::default())
            .await
        {
            Ok(sandboxes) => {
                for sandbox in sandboxes {
                    if let Err(e) = runtime.stop_pod_sandbox(&sandbox.id).await {
                        tracing::warn!(sandbox = %sandbox.id, error = %e, "stopping a sandbox failed");
                    }
                }
            }
            Err(e) => tracing::warn!(%node, error = %e, "cannot list the sandboxes to stop"),
        }
        tracing::info!(%node, "the node's pods are stopped");
    }
}
