//! [`ControlPlane`]: the API server over a store, served over HTTPS, with the components
//! that act on it, built from one [`ControlPlaneBuilder`].

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kube_api::client::Client;
use kube_api::informer::SharedInformerFactory;
use kube_api::server::ratelimit::RateLimitConfig;
use kube_api::server::stack::{AuthorizationMode, RunningServer, Stack, StackBuilder};
use kube_api::server::{
    ApiServer, ApiServerBuilder, ApiServerConfig, KindSpec, MutatingAdmission, ServiceRanges,
    UserInfo, ValidatingAdmission,
};
use kube_core::{CloudProvider, Scheduler, Store};
use kube_ctrl::cloud::{CloudConfig, CloudControllerManager};
use kube_ctrl::controllers::ControllersConfig;
use kube_ctrl::{
    ControllerManager, LeaderElectionConfig, Metrics, Runnable, Shutdown, ShutdownTrigger,
    serve_endpoint,
};
use kube_sched::FrameworkScheduler;
use kube_sched::runner::{RunnerConfig, RunnerHandle, SchedulerRunner};
use tokio::task::JoinHandle;

use crate::error::BuildError;
use crate::metrics::ControlPlaneMetrics;
use crate::store_choice::StoreChoice;

/// Which scheduler a control plane runs.
#[derive(Clone, Default)]
pub enum SchedulerChoice {
    /// The framework scheduler with Kubernetes' default plugins (profile
    /// `default-scheduler`).
    #[default]
    Default,
    /// A framework scheduler of your own profiles and plugins.
    Framework(Arc<FrameworkScheduler>),
    /// Any [`Scheduler`], for the pods whose `spec.schedulerName` is one of the names; the
    /// same loop feeds it from informers and binds its answers.
    Custom {
        /// The scheduler.
        scheduler: Arc<dyn Scheduler>,
        /// The `spec.schedulerName`s it serves.
        names: Vec<String>,
    },
    /// No scheduler: pods stay pending unless something else binds them.
    None,
}

impl fmt::Debug for SchedulerChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("Default"),
            Self::Framework(_) => f.write_str("Framework(..)"),
            Self::Custom { names, .. } => f.debug_struct("Custom").field("names", names).finish(),
            Self::None => f.write_str("None"),
        }
    }
}

/// The identity the in-process components act as: their own names, as Kubernetes'
/// components have, in the `system:masters` group (the control plane trusts itself).
fn component(name: &str) -> UserInfo {
    UserInfo::new(name, ["system:masters"])
}

/// A change to the API server's builder, kept until `build()`.
type ApiCustomization = Box<dyn FnOnce(ApiServerBuilder) -> ApiServerBuilder + Send>;

/// Builds a [`ControlPlane`]. Start from [`ControlPlane::builder`].
///
/// Every setting has a default that runs a development cluster on loopback: the in-memory
/// store, RBAC, HTTPS on `127.0.0.1:6443` once a PKI directory is given. Combinations that
/// cannot work are refused by [`build`](Self::build) with a [`BuildError::Config`].
#[must_use]
pub struct ControlPlaneBuilder {
    store: StoreChoice,
    api_config: ApiServerConfig,
    api_customizations: Vec<ApiCustomization>,
    listen: Option<SocketAddr>,
    plain_http: Option<SocketAddr>,
    pki_dir: Option<PathBuf>,
    hosts: Vec<String>,
    kubeconfig_path: Option<PathBuf>,
    token_file: Option<PathBuf>,
    client_certificates: bool,
    authorization: AuthorizationMode,
    rate_limit: RateLimitConfig,
    scheduler: SchedulerChoice,
    scheduler_config: RunnerConfig,
    controllers: Option<ControllersConfig>,
    user_controllers: Vec<Arc<dyn Runnable>>,
    leader_election: bool,
    cloud: Option<(Arc<dyn CloudProvider>, CloudConfig)>,
    metrics_listen: Option<SocketAddr>,
}

impl fmt::Debug for ControlPlaneBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControlPlaneBuilder")
            .field("store", &self.store)
            .field("listen", &self.listen)
            .field("plain_http", &self.plain_http)
            .field("pki_dir", &self.pki_dir)
            .field("authorization", &self.authorization)
            .field("scheduler", &self.scheduler)
            .field("controllers", &self.controllers.is_some())
            .field("user_controllers", &self.user_controllers.len())
            .field(
                "cloud",
                &self.cloud.as_ref().map(|(p, _)| p.name().to_owned()),
            )
            .finish_non_exhaustive()
    }
}

impl Default for ControlPlaneBuilder {
    fn default() -> Self {
        Self {
            store: StoreChoice::Memory,
            api_config: ApiServerConfig::default(),
            api_customizations: Vec::new(),
            listen: None,
            plain_http: None,
            pki_dir: None,
            hosts: Vec::new(),
            kubeconfig_path: None,
            token_file: None,
            client_certificates: true,
            authorization: AuthorizationMode::Rbac,
            rate_limit: RateLimitConfig::default(),
            scheduler: SchedulerChoice::Default,
            scheduler_config: RunnerConfig::default(),
            controllers: Some(ControllersConfig::default()),
            user_controllers: Vec::new(),
            leader_election: false,
            cloud: None,
            metrics_listen: None,
        }
    }
}

impl ControlPlaneBuilder {
    /// Where the cluster state lives (default: [`StoreChoice::Memory`]).
    pub fn store(mut self, store: StoreChoice) -> Self {
        self.store = store;
        self
    }

    /// Keeps the state in a user's own [`Store`] implementation.
    pub fn custom_store(mut self, store: impl Store + 'static) -> Self {
        self.store = StoreChoice::Custom(Arc::new(store));
        self
    }

    /// Keeps the state in a durable embedded store in `dir` (created if missing).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.store = StoreChoice::Durable(dir.into());
        self
    }

    /// The API server's settings (watch cache sizes, timeouts, body limit, ...).
    pub fn api_config(mut self, config: ApiServerConfig) -> Self {
        self.api_config = config;
        self
    }

    /// The ClusterIP range and NodePort range services get addresses from.
    pub fn service_ranges(mut self, ranges: ServiceRanges) -> Self {
        self.api_config.service_ranges = ranges;
        self
    }

    /// Serves an extra kind (a custom resource known when the cluster is built).
    pub fn kind(mut self, kind: KindSpec) -> Self {
        self.api_customizations
            .push(Box::new(move |b| b.kind(kind)));
        self
    }

    /// Adds a mutating admission plugin; plugins run in the order added, before the
    /// validating ones.
    pub fn mutating_admission(mut self, plugin: impl MutatingAdmission) -> Self {
        self.api_customizations
            .push(Box::new(move |b| b.mutating_admission(plugin)));
        self
    }

    /// Adds a validating admission plugin; plugins run in the order added.
    pub fn validating_admission(mut self, plugin: impl ValidatingAdmission) -> Self {
        self.api_customizations
            .push(Box::new(move |b| b.validating_admission(plugin)));
        self
    }

    /// Serves HTTPS on `addr` (needs [`pki_dir`](Self::pki_dir)). Port 0 picks a free port.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Also serves plain HTTP on `addr`, which must be a loopback address. For local
    /// development only: plain HTTP carries no credentials, so every request is anonymous
    /// unless the authorizer is [`AuthorizationMode::AllowAll`].
    pub fn plain_http(mut self, addr: SocketAddr) -> Self {
        self.plain_http = Some(addr);
        self
    }

    /// Where the CA, the serving certificate and the admin credentials are kept (created on
    /// first start, reused after).
    pub fn pki_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.pki_dir = Some(dir.into());
        self
    }

    /// Extra host names and IPs the serving certificate is valid for (loopback and the
    /// machine's host name always are).
    pub fn hosts<I: IntoIterator<Item = H>, H: Into<String>>(mut self, hosts: I) -> Self {
        self.hosts.extend(hosts.into_iter().map(Into::into));
        self
    }

    /// Where the admin kubeconfig is written (default: `admin.kubeconfig` in the PKI
    /// directory).
    pub fn kubeconfig_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig_path = Some(path.into());
        self
    }

    /// Bearer tokens from a Kubernetes static token file (`token,user,uid,"group1,group2"`).
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_file = Some(path.into());
        self
    }

    /// Whether x509 client certificates authenticate (default: yes).
    pub fn client_certificates(mut self, enabled: bool) -> Self {
        self.client_certificates = enabled;
        self
    }

    /// RBAC (default) or allow-all.
    pub fn authorization(mut self, mode: AuthorizationMode) -> Self {
        self.authorization = mode;
        self
    }

    /// The in-flight request limits (429 past them).
    pub fn rate_limit(mut self, config: RateLimitConfig) -> Self {
        self.rate_limit = config;
        self
    }

    /// Which scheduler runs (default: the framework with Kubernetes' default plugins).
    pub fn scheduler(mut self, scheduler: SchedulerChoice) -> Self {
        self.scheduler = scheduler;
        self
    }

    /// Runs your own [`Scheduler`] for the pods whose `spec.schedulerName` is one of
    /// `names`, through the same loop (informers, assume, bind).
    pub fn custom_scheduler(
        mut self,
        scheduler: impl Scheduler + 'static,
        names: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.scheduler = SchedulerChoice::Custom {
            scheduler: Arc::new(scheduler),
            names: names.into_iter().map(Into::into).collect(),
        };
        self
    }

    /// The scheduling loop's settings.
    pub fn scheduler_config(mut self, config: RunnerConfig) -> Self {
        self.scheduler_config = config;
        self
    }

    /// Which built-in controllers run, and their settings (default: all of them).
    pub fn controllers(mut self, config: ControllersConfig) -> Self {
        self.controllers = Some(config);
        self
    }

    /// Runs none of the built-in controllers (your own still run).
    pub fn without_builtin_controllers(mut self) -> Self {
        self.controllers = None;
        self
    }

    /// Runs a controller of your own in the controller manager, beside the built-in ones.
    pub fn controller(mut self, controller: impl kube_core::Controller) -> Self {
        self.user_controllers
            .push(Arc::new(kube_ctrl::DynController::new(controller)));
        self
    }

    /// Runs anything the controller manager can run (a [`kube_ctrl::Controller`] built in
    /// kube-rs's shape, for one).
    pub fn runnable(mut self, runnable: impl Runnable) -> Self {
        self.user_controllers.push(Arc::new(runnable));
        self
    }

    /// Elect a leader among control planes sharing a store before running the controller
    /// managers (default: off, for a single control plane).
    pub fn leader_election(mut self, enabled: bool) -> Self {
        self.leader_election = enabled;
        self
    }

    /// Serves the scheduler's and the controllers' metrics on `addr` (plain HTTP:
    /// `/metrics` in the Prometheus text format, `/healthz`, `/livez`, and `/readyz`,
    /// ready once the scheduler has synced). The API server's own `/metrics` is on its
    /// API port. Port 0 picks a free port; see [`RunningControlPlane::metrics_addr`].
    pub fn metrics_listen(mut self, addr: SocketAddr) -> Self {
        self.metrics_listen = Some(addr);
        self
    }

    /// Runs the cloud controller manager over this provider.
    pub fn cloud_provider(mut self, provider: impl CloudProvider, config: CloudConfig) -> Self {
        self.cloud = Some((Arc::new(provider), config));
        self
    }

    /// Checks the settings, opens the store and builds the API server and its layers.
    /// Nothing is served and no component runs until [`ControlPlane::start`].
    pub async fn build(self) -> Result<ControlPlane, BuildError> {
        self.validate()?;
        let store = self.store.open().await?;
        let mut api = ApiServer::builder(store.clone()).config(self.api_config);
        for customize in self.api_customizations {
            api = customize(api);
        }
        let api = api.build().await.map_err(BuildError::ApiServer)?;

        let mut stack = StackBuilder::new(api.clone())
            .authorization(self.authorization)
            .rate_limit(self.rate_limit)
            .client_certificates(self.client_certificates);
        if let Some(dir) = &self.pki_dir {
            // The stack keeps hosts only once it has a PKI: set the directory first.
            stack = stack.pki_dir(dir.clone()).hosts(self.hosts);
        }
        if let Some(path) = &self.token_file {
            stack = stack.token_file(path.clone());
        }
        if let Some(path) = &self.kubeconfig_path {
            stack = stack.kubeconfig_path(path.clone());
        }
        let stack = stack.build().await?;
        // The API server proxies pods/log to the node agents with a client certificate
        // they check against the cluster CA.
        if let Some(pki) = stack.pki() {
            let certificate = pki
                .kubelet_client_certificate()
                .map_err(|e| BuildError::Stack(e.into()))?;
            api.set_kubelet_client_certificate(&certificate)
                .map_err(BuildError::ApiServer)?;
        }
        let components = Components {
            scheduler: self.scheduler,
            scheduler_config: self.scheduler_config,
            controllers: self.controllers,
            user_controllers: self.user_controllers,
            leader_election: self.leader_election,
            cloud: self.cloud,
            metrics_listen: self.metrics_listen,
        };
        Ok(ControlPlane {
            store,
            api,
            stack,
            listen: self.listen,
            plain_http: self.plain_http,
            components,
        })
    }

    fn validate(&self) -> Result<(), BuildError> {
        if self.listen.is_some() && self.pki_dir.is_none() {
            return Err(BuildError::Config(
                "serving HTTPS (listen) needs a PKI directory (pki_dir) for its certificates"
                    .into(),
            ));
        }
        if let Some(addr) = self.plain_http
            && !addr.ip().is_loopback()
        {
            return Err(BuildError::Config(format!(
                "plain HTTP is only served on loopback addresses, not {addr}: use listen() for HTTPS"
            )));
        }
        if self.kubeconfig_path.is_some() && self.listen.is_none() {
            return Err(BuildError::Config(
                "a kubeconfig is written for the HTTPS endpoint: kubeconfig_path needs listen"
                    .into(),
            ));
        }
        if let Some(dir) = &self.pki_dir
            && dir.exists()
            && !dir.is_dir()
        {
            return Err(BuildError::Config(format!(
                "the PKI directory {} is not a directory",
                dir.display()
            )));
        }
        if self.rate_limit.max_mutating_in_flight == 0
            || self.rate_limit.max_read_only_in_flight == 0
        {
            return Err(BuildError::Config(
                "rate limits of 0 requests in flight would refuse every request".into(),
            ));
        }
        Ok(())
    }
}

/// A built control plane: the store, the API server and its served stack.
///
/// ```
/// use kube_sdk::ControlPlane;
/// use kube_sdk::api::client::{Api, PostParams};
/// use kube_sdk::core::{ConfigMap, ObjectMeta};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cluster = ControlPlane::builder().build().await?.start().await?;
/// let config_maps: Api<ConfigMap> = Api::default_namespaced(cluster.client());
/// let cm = ConfigMap {
///     metadata: ObjectMeta { name: Some("settings".into()), ..ObjectMeta::default() },
///     ..ConfigMap::default()
/// };
/// config_maps.create(&PostParams::default(), &cm).await?;
/// assert_eq!(config_maps.get("settings").await?.metadata.name.as_deref(), Some("settings"));
/// cluster.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct ControlPlane {
    store: Arc<dyn Store>,
    api: ApiServer,
    stack: Stack,
    listen: Option<SocketAddr>,
    plain_http: Option<SocketAddr>,
    components: Components,
}

/// The components a control plane runs beside the API server.
struct Components {
    scheduler: SchedulerChoice,
    scheduler_config: RunnerConfig,
    controllers: Option<ControllersConfig>,
    user_controllers: Vec<Arc<dyn Runnable>>,
    leader_election: bool,
    cloud: Option<(Arc<dyn CloudProvider>, CloudConfig)>,
    metrics_listen: Option<SocketAddr>,
}

/// The running components, stopped by [`RunningControlPlane::shutdown`].
struct RunningComponents {
    scheduler: Option<RunnerHandle>,
    /// The informers the scheduler and the controller manager share, stopped after both.
    shared: Option<SharedInformerFactory>,
    stop: ShutdownTrigger,
    managers: Vec<(&'static str, JoinHandle<kube_ctrl::Result<()>>)>,
    metrics_addr: Option<SocketAddr>,
}

impl Components {
    /// Starts the scheduler, the controller manager and the cloud controller manager.
    fn start(self, stack: &Stack) -> Result<RunningComponents, BuildError> {
        // Bound first, so that a port in use fails the start before anything runs.
        let metrics_listener = match self.metrics_listen {
            Some(addr) => Some(bind_metrics(addr)?),
            None => None,
        };
        let metrics = Metrics::new();
        let identity = format!("{}-{}", hostname(), std::process::id());
        let has_controllers = self.controllers.is_some() || !self.user_controllers.is_empty();
        // In one process the scheduler and the controller manager read the same pods and
        // nodes: one set of informers (one decoded copy of every pod) serves both. Their
        // reads go out as the controller manager; each writes as itself.
        let shared =
            (has_controllers && !matches!(self.scheduler, SchedulerChoice::None)).then(|| {
                SharedInformerFactory::new(
                    stack.client_as(component("system:kube-controller-manager")),
                )
            });
        let scheduler = {
            let mut builder =
                SchedulerRunner::builder(stack.client_as(component("system:kube-scheduler")))
                    .config(self.scheduler_config);
            if let Some(factory) = &shared {
                builder = builder.informer_factory(factory.clone());
            }
            match self.scheduler {
                SchedulerChoice::Default => Some(builder.build().spawn()),
                SchedulerChoice::Framework(framework) => {
                    Some(builder.framework(framework).build().spawn())
                }
                SchedulerChoice::Custom { scheduler, names } => {
                    Some(builder.scheduler(scheduler, names).build().spawn())
                }
                SchedulerChoice::None => None,
            }
        };
        let (stop, shutdown) = Shutdown::new();
        let mut managers = Vec::new();
        if has_controllers {
            let client = stack.client_as(component("system:kube-controller-manager"));
            let mut builder = ControllerManager::builder(client)
                .identity(&identity)
                .with_metrics(metrics.clone());
            if let Some(factory) = &shared {
                builder = builder.informer_factory(factory.clone());
            }
            if self.leader_election {
                builder = builder.leader_election(LeaderElectionConfig::new(
                    "kube-controller-manager",
                    &identity,
                ));
            }
            if let Some(config) = self.controllers {
                builder = builder.builtin_controllers(config);
            }
            for runnable in self.user_controllers {
                builder = builder.add_arc(runnable);
            }
            let manager = builder.build().map_err(BuildError::Controllers)?;
            let shutdown = shutdown.clone();
            managers.push((
                "controller manager",
                tokio::spawn(async move { manager.run(shutdown).await }),
            ));
        }
        if let Some((provider, config)) = self.cloud {
            let client = stack.client_as(component("system:cloud-controller-manager"));
            let mut builder = CloudControllerManager::builder_arc(client, provider)
                .config(config)
                .identity(&identity)
                .with_metrics(metrics.clone());
            if self.leader_election {
                builder = builder.leader_election(LeaderElectionConfig::new(
                    "cloud-controller-manager",
                    &identity,
                ));
            }
            let manager = builder.build().map_err(BuildError::Controllers)?;
            let shutdown = shutdown.clone();
            managers.push((
                "cloud controller manager",
                tokio::spawn(async move { manager.run(shutdown).await }),
            ));
        }
        let mut metrics_addr = None;
        if let Some(listener) = metrics_listener {
            metrics_addr = listener.local_addr().ok();
            let source = Arc::new(ControlPlaneMetrics {
                scheduler: scheduler.as_ref().map(RunnerHandle::stats_reader),
                managers: vec![metrics],
            });
            managers.push((
                "metrics endpoint",
                tokio::spawn(async move {
                    serve_endpoint(listener, source, shutdown).await;
                    Ok(())
                }),
            ));
        }
        Ok(RunningComponents {
            scheduler,
            shared,
            stop,
            managers,
            metrics_addr,
        })
    }
}

impl RunningComponents {
    async fn shutdown(self) {
        self.stop.trigger();
        if let Some(scheduler) = self.scheduler
            && let Err(e) = scheduler.shutdown().await
        {
            tracing::warn!(error = %e, "the scheduler stopped with an error");
        }
        for (name, task) in self.managers {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(component = name, error = %e, "stopped with an error"),
                Err(e) => tracing::warn!(component = name, error = %e, "its task failed"),
            }
        }
        if let Some(factory) = self.shared {
            factory.stop().await;
        }
    }
}

/// Binds the metrics endpoint's port (from synchronous code: the start-up is not async).
fn bind_metrics(addr: SocketAddr) -> Result<tokio::net::TcpListener, BuildError> {
    let bound = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(tokio::net::TcpListener::from_std);
    bound.map_err(|source| BuildError::Metrics { addr, source })
}

/// The machine's host name, for leader-election identities.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControlPlane")
            .field("listen", &self.listen)
            .field("plain_http", &self.plain_http)
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// A builder with the defaults.
    pub fn builder() -> ControlPlaneBuilder {
        ControlPlaneBuilder::default()
    }

    /// The API server itself (a `tower::Service`).
    pub fn api_server(&self) -> &ApiServer {
        &self.api
    }

    /// The store the API server runs on.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Serves the API and starts every component.
    pub async fn start(self) -> Result<RunningControlPlane, BuildError> {
        let https = match self.listen {
            Some(addr) => Some(self.stack.serve(addr).await?),
            None => None,
        };
        let plain = match self.plain_http {
            Some(addr) => Some(self.stack.serve_plain(addr).await?),
            None => None,
        };
        let components = self.components.start(&self.stack)?;
        Ok(RunningControlPlane {
            store: self.store,
            api: self.api,
            stack: self.stack,
            https,
            plain,
            components,
        })
    }
}

/// A running control plane: its endpoints and clients, and a clean shutdown.
pub struct RunningControlPlane {
    store: Arc<dyn Store>,
    api: ApiServer,
    stack: Stack,
    https: Option<RunningServer>,
    plain: Option<RunningServer>,
    components: RunningComponents,
}

impl fmt::Debug for RunningControlPlane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningControlPlane")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl RunningControlPlane {
    /// An in-process client acting as the cluster admin (through every layer).
    pub fn client(&self) -> Client {
        self.stack.admin_client()
    }

    /// An in-process client acting as `user` (authorization applies as over the network).
    pub fn client_as(&self, user: UserInfo) -> Client {
        self.stack.client_as(user)
    }

    /// An in-process client for the node agent of `node` (acting as `system:node:<node>`),
    /// and the cluster CA its log endpoint checks the API server's certificate against.
    pub fn node_client(&self, node: &str) -> (Client, Option<String>) {
        let user = UserInfo::new(
            format!("system:node:{node}"),
            ["system:nodes", "system:masters"],
        );
        let ca = self.stack.pki().map(|pki| pki.ca.cert_pem.clone());
        (self.stack.client_as(user), ca)
    }

    /// The scheduler's counters, when it runs.
    pub fn scheduler_stats(&self) -> Option<kube_sched::runner::RunnerStats> {
        self.components.scheduler.as_ref().map(RunnerHandle::stats)
    }

    /// A handle that reads the scheduler's counters from anywhere (a progress display, a
    /// metrics task), when it runs.
    pub fn scheduler_stats_reader(&self) -> Option<kube_sched::StatsReader> {
        self.components
            .scheduler
            .as_ref()
            .map(RunnerHandle::stats_reader)
    }

    /// The API server.
    pub fn api_server(&self) -> &ApiServer {
        &self.api
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The address the metrics endpoint is served on, when
    /// [`metrics_listen`](ControlPlaneBuilder::metrics_listen) asked for one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.components.metrics_addr
    }

    /// The HTTPS URL, when serving HTTPS; else the plain HTTP one; else `None`.
    pub fn url(&self) -> Option<&str> {
        self.https
            .as_ref()
            .or(self.plain.as_ref())
            .map(RunningServer::url)
    }

    /// The address HTTPS is served on.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https.as_ref().map(RunningServer::local_addr)
    }

    /// The address plain HTTP is served on.
    pub fn plain_http_addr(&self) -> Option<SocketAddr> {
        self.plain.as_ref().map(RunningServer::local_addr)
    }

    /// The admin kubeconfig written for the HTTPS endpoint.
    pub fn kubeconfig_path(&self) -> Option<&Path> {
        self.https.as_ref().and_then(RunningServer::kubeconfig_path)
    }

    /// Stops serving and stops every component, waiting for each (at most `grace` for
    /// the open connections to finish). Once this returns, nothing of the control plane
    /// holds the store, except clients the application still holds: drop those too
    /// before reopening a durable store in the same process.
    pub async fn shutdown_within(self, grace: Duration) {
        self.components.shutdown().await;
        let stop = async {
            if let Some(server) = self.https {
                server.shutdown().await;
            }
            if let Some(server) = self.plain {
                server.shutdown().await;
            }
        };
        if tokio::time::timeout(grace, stop).await.is_err() {
            tracing::warn!(?grace, "the control plane did not stop in time");
        }
        // The components stopped first (they are clients of the server); now the
        // server's own background work, so that nothing holds the store once this returns.
        self.stack.shutdown().await;
        self.api.shutdown().await;
    }

    /// Stops with the default grace of 30 seconds.
    pub async fn shutdown(self) {
        self.shutdown_within(Duration::from_secs(30)).await;
    }
}
