//! [`Kubelet`]: the node agent. It registers its Node, keeps the Lease heartbeat and the
//! node status (contract 1), runs the pods bound to it through a [`Runtime`] (one worker
//! per pod), reports their status (contract 3), stops them gracefully on deletion
//! (contract 5), serves their logs over HTTPS (contract 4), and adopts the containers of
//! an earlier instance after a restart.

mod admission;
mod backoff;
mod config;
mod container_config;
mod error;
mod events;
pub mod labels;
mod machine;
mod metrics;
mod node;
mod pod_status;
mod pod_worker;
mod pods;
mod probe;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use kube_api::client::{Api, Client};
use kube_api::informer::{Cache, Informer, InformerConfig, InformerTask};
use kube_core::{Pod, Runtime};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use backoff::{BackoffPolicy, CrashBackoff, RestartDecision};
pub use config::{KubeletConfig, ServerConfig};
pub use error::{Error, Result};
pub use node::NODE_LEASE_NAMESPACE;

use node::NodeContext;
use pod_worker::PodContext;

/// The node agent, configured and not yet running; [`Kubelet::start`] runs it.
///
/// ```no_run
/// # async fn demo(client: kube_api::client::Client) -> kube_node::kubelet::Result<()> {
/// use kube_node::SimRuntime;
/// use kube_node::kubelet::{Kubelet, KubeletConfig};
///
/// let kubelet = Kubelet::builder(client, SimRuntime::new())
///     .config(KubeletConfig {
///         node_name: "sim-1".into(),
///         server: None,
///         ..KubeletConfig::default()
///     })
///     .build();
/// let running = kubelet.start().await?;
/// // ... the node runs its pods ...
/// running.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct Kubelet {
    config: KubeletConfig,
    client: Client,
    runtime: Arc<dyn Runtime>,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet")
            .field("node_name", &self.config.node_name)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Kubelet`].
#[derive(Debug)]
#[must_use]
pub struct KubeletBuilder {
    kubelet: Kubelet,
}

impl KubeletBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: KubeletConfig) -> Self {
        self.kubelet.config = config;
        self
    }

    /// Sets the node's name.
    pub fn node_name(mut self, name: &str) -> Self {
        self.kubelet.config.node_name = name.to_owned();
        self
    }

    /// The node agent.
    pub fn build(self) -> Kubelet {
        self.kubelet
    }
}

impl Kubelet {
    /// A builder over an API client and a runtime, with the default configuration.
    pub fn builder(client: Client, runtime: impl Runtime) -> KubeletBuilder {
        Self::builder_arc(client, Arc::new(runtime))
    }

    /// Like [`Kubelet::builder`], with a shared runtime.
    pub fn builder_arc(client: Client, runtime: Arc<dyn Runtime>) -> KubeletBuilder {
        KubeletBuilder {
            kubelet: Self {
                config: KubeletConfig::default(),
                client,
                runtime,
            },
        }
    }

    /// Starts the agent: binds its server, registers the Node, starts the heartbeat, the
    /// status loop and the pod workers. Returns once the Node is registered.
    #[tracing::instrument(name = "kubelet", skip_all, fields(node = %self.config.node_name))]
    pub async fn start(self) -> Result<RunningKubelet> {
        let config = Arc::new(self.config);
        let version = self
            .runtime
            .version()
            .await
            .map_err(Error::runtime("asking the runtime its version"))?;
        let (shutdown_tx, shutdown) = watch::channel(false);
        let listener = match &config.server {
            Some(server) => Some(tokio::net::TcpListener::bind(server.addr).await.map_err(
                |e| Error::Server {
                    message: format!("cannot listen on {}", server.addr),
                    source: Some(Box::new(e)),
                },
            )?),
            None => None,
        };
        let local = listener.as_ref().and_then(|l| l.local_addr().ok());
        let node_ctx = Arc::new(NodeContext {
            config: config.clone(),
            client: self.client.clone(),
            runtime: self.runtime.clone(),
            port: AtomicI32::new(local.map_or(0, |a| i32::from(a.port()))),
            uid: Mutex::new(None),
            pod_cidr: Mutex::new(None),
            capacity: Mutex::new(Default::default()),
            system: tokio::task::spawn_blocking(machine::SystemFacts::read)
                .await
                .unwrap_or_default(),
        });
        let node = node::register(&node_ctx).await?;
        let mut tasks: Vec<(&'static str, JoinHandle<()>)> = vec![
            (
                "lease loop",
                tokio::spawn(node::lease_loop(node_ctx.clone(), shutdown.clone())),
            ),
            (
                "status loop",
                tokio::spawn(node::status_loop(node_ctx.clone(), shutdown.clone())),
            ),
        ];

        let informer = Informer::with_config(
            Api::<Pod>::all(self.client.clone()),
            InformerConfig {
                field_selector: Some(format!("spec.nodeName={}", config.node_name)),
                ..InformerConfig::default()
            },
        );
        let pods = informer.cache();
        let informer_task = informer.spawn();

        if let (Some(listener), Some(server)) = (listener, &config.server) {
            let tls = server::tls_config(server, &config.node_name, &[config.node_ip])?;
            let handler = server::LogHandler {
                pods: pods.clone(),
                runtime: self.runtime.clone(),
            };
            tasks.push((
                "log server",
                tokio::spawn(server::serve(listener, tls, handler, shutdown.clone())),
            ));
        }

        let allocatable = Arc::new(Mutex::new(node.status.allocatable.clone()));
        {
            let capacity = node_ctx.capacity.lock().clone();
            *allocatable.lock() = machine::allocatable(&capacity, &config.system_reserved);
        }
        let pod_ctx = Arc::new(PodContext {
            runtime: self.runtime.clone(),
            client: self.client.clone(),
            config: config.clone(),
            runtime_name: version.runtime_name,
            host_ip: config.node_ip.to_string(),
            events: events::EventRecorder::new(
                self.client.clone(),
                &config.node_name,
                config.record_events,
            ),
        });
        let dispatcher = pods::Dispatcher::new(pod_ctx, node.metadata.labels, allocatable);
        tasks.push((
            "pod dispatcher",
            tokio::spawn(dispatcher.run(pods.clone(), shutdown.clone())),
        ));
        tracing::info!(node = %config.node_name, port = node_ctx.port.load(Ordering::Relaxed), "kubelet started");
        Ok(RunningKubelet {
            node_name: config.node_name.clone(),
            addr: local,
            pods,
            shutdown: shutdown_tx,
            tasks,
            _informer: informer_task,
        })
    }
}

/// A running node agent. [`RunningKubelet::shutdown`] stops it and leaves the containers
/// running (a new agent adopts them); dropping it does the same without waiting.
#[derive(Debug)]
pub struct RunningKubelet {
    node_name: String,
    addr: Option<SocketAddr>,
    pods: Cache<Pod>,
    shutdown: watch::Sender<bool>,
    /// The agent's loops, by name.
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    _informer: InformerTask,
}

/// How long [`RunningKubelet::shutdown`] waits for the agent's loops before it aborts
/// the ones still running.
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl RunningKubelet {
    /// The node's name.
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// Where the HTTPS server listens (with the real port when 0 was asked for).
    pub fn server_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The agent's cache of the pods bound to its node.
    pub fn pods(&self) -> &Cache<Pod> {
        &self.pods
    }

    /// Stops every loop and waits for them (10 s at most, then the ones still running
    /// are aborted, with a warning naming them); containers keep running.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
        for (name, mut task) in self.tasks.drain(..) {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::warn!(node = %self.node_name, task = name, "did not stop in time; aborted");
                task.abort();
            }
        }
    }
}

impl Drop for RunningKubelet {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for (_, task) in &self.tasks {
            task.abort();
        }
    }
}
