//! [`ControllerManager`]: runs any set of controllers (built-in and the user's) on one
//! shared informer factory, under one leader election.
//!
//! While it does not hold its Lease a manager does nothing but compete for it. Once it
//! leads, it starts the shared informers and runs every controller; when it loses the
//! Lease it stops them (reconciles in flight finish) and competes again, its caches kept
//! warm; when its shutdown signal fires it stops them, gives the Lease up and returns.
//!
//! ```no_run
//! # async fn demo(client: kube_api::client::Client) -> kube_ctrl::Result<()> {
//! use kube_ctrl::controllers::ControllersConfig;
//! use kube_ctrl::{ControllerManager, LeaderElectionConfig, Shutdown};
//!
//! let manager = ControllerManager::builder(client)
//!     .leader_election(LeaderElectionConfig::new("kube-controller-manager", ""))
//!     .builtin_controllers(ControllersConfig::default())
//!     .build()?;
//! let (_stop, shutdown) = Shutdown::new();
//! manager.run(shutdown).await
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use kube_api::client::Client;
use kube_api::informer::SharedInformerFactory;
use rand::Rng as _;
use tokio::task::JoinSet;

use crate::controllers::ControllersConfig;
use crate::error::{Error, Result};
use crate::runtime::{
    DynController, KindRegistry, LeaderElectionConfig, LeaderElector, Metrics, RunContext, Runnable,
};
use crate::shutdown::Shutdown;

/// Builds a [`ControllerManager`].
#[must_use]
pub struct ControllerManagerBuilder {
    client: Client,
    factory: SharedInformerFactory,
    own_factory: bool,
    registry: KindRegistry,
    metrics: Metrics,
    leader_election: Option<LeaderElectionConfig>,
    identity: String,
    runnables: Vec<Arc<dyn Runnable>>,
    builtin: Option<ControllersConfig>,
}

impl fmt::Debug for ControllerManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControllerManagerBuilder")
            .field("identity", &self.identity)
            .field("leader_election", &self.leader_election)
            .field(
                "controllers",
                &self.runnables.iter().map(|r| r.name()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ControllerManagerBuilder {
    /// Takes its informers from `factory`, shared with other components of the process
    /// (in a control plane in one process, the scheduler: one cache of the pods and
    /// nodes instead of one each). The manager starts it but leaves stopping it to its
    /// owner; its reads go out with the factory's client.
    pub fn informer_factory(mut self, factory: SharedInformerFactory) -> Self {
        self.factory = factory;
        self.own_factory = false;
        self
    }

    /// Elects a leader on this Lease before running anything.
    pub fn leader_election(mut self, config: LeaderElectionConfig) -> Self {
        self.leader_election = Some(config);
        self
    }

    /// This instance's name (events' `reportingInstance`); a random one by default.
    pub fn identity(mut self, identity: &str) -> Self {
        identity.clone_into(&mut self.identity);
        self
    }

    /// Runs this controller.
    pub fn with(mut self, runnable: impl Runnable) -> Self {
        self.runnables.push(Arc::new(runnable));
        self
    }

    /// Runs this shared controller.
    pub fn add_arc(mut self, runnable: Arc<dyn Runnable>) -> Self {
        self.runnables.push(runnable);
        self
    }

    /// Runs Kubernetes' built-in controllers, as `config` says.
    pub fn builtin_controllers(mut self, config: ControllersConfig) -> Self {
        self.builtin = Some(config);
        self
    }

    /// Runs a [`kube_core::Controller`] on the shared informers.
    pub fn controller(self, controller: impl kube_core::Controller) -> Self {
        self.with(DynController::new(controller))
    }

    /// The informers every controller of this manager shares: build your controllers'
    /// caches from it.
    pub fn factory(&self) -> &SharedInformerFactory {
        &self.factory
    }

    /// Which typed informer serves each kind; register your typed custom resources here
    /// so that controllers naming them by [`kube_core::ApiResource`] share them.
    pub fn registry(&self) -> &KindRegistry {
        &self.registry
    }

    /// Where the controllers count.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Counts into `metrics` instead of a registry of its own, so that several managers
    /// of one process (controllers and cloud controllers) render as one `/metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The manager; fails on an invalid leader election or controller setting.
    pub fn build(mut self) -> Result<ControllerManager> {
        if let Some(builtin) = self.builtin.take() {
            let mut all = builtin.build()?;
            all.append(&mut self.runnables);
            self.runnables = all;
        }
        let elector = match self.leader_election {
            Some(mut config) => {
                if config.identity.is_empty() {
                    config.identity.clone_from(&self.identity);
                }
                Some(LeaderElector::new(self.client.clone(), config)?)
            }
            None => None,
        };
        Ok(ControllerManager {
            client: self.client,
            factory: self.factory,
            own_factory: self.own_factory,
            registry: self.registry,
            metrics: self.metrics,
            elector,
            identity: self.identity,
            runnables: self.runnables,
        })
    }
}

/// Runs controllers under one leader election; see the [module docs](self).
pub struct ControllerManager {
    client: Client,
    factory: SharedInformerFactory,
    /// Whether the manager made its factory (and so stops it when it ends).
    own_factory: bool,
    registry: KindRegistry,
    metrics: Metrics,
    elector: Option<Arc<LeaderElector>>,
    identity: String,
    runnables: Vec<Arc<dyn Runnable>>,
}

impl fmt::Debug for ControllerManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControllerManager")
            .field("identity", &self.identity)
            .field(
                "controllers",
                &self.runnables.iter().map(|r| r.name()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A name unique enough among candidates: the host name and a random suffix.
pub(crate) fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "kube-ctrl".to_owned());
    let suffix: u64 = rand::rng().random();
    format!("{host}_{suffix:016x}")
}

impl ControllerManager {
    /// A builder for a manager talking to the API server through `client`.
    pub fn builder(client: Client) -> ControllerManagerBuilder {
        ControllerManagerBuilder {
            factory: SharedInformerFactory::new(client.clone()),
            own_factory: true,
            client,
            registry: KindRegistry::with_builtin_kinds(),
            metrics: Metrics::new(),
            leader_election: None,
            identity: default_identity(),
            runnables: Vec::new(),
            builtin: None,
        }
    }

    /// The shared informers.
    pub fn factory(&self) -> &SharedInformerFactory {
        &self.factory
    }

    /// The metrics of every controller, and of the leader election.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// This instance's name.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Runs until `shutdown` fires: competes for the Lease (if configured), runs every
    /// controller while leading, competes again after losing it. On shutdown, stops the
    /// controllers (reconciles in flight finish), releases the Lease and stops the
    /// informers.
    pub async fn run(&self, shutdown: Shutdown) -> Result<()> {
        let lease_name = self.elector.as_ref().map(|e| e.config().name.clone());
        loop {
            let leadership = match &self.elector {
                Some(elector) => {
                    if let Some(name) = &lease_name {
                        self.metrics.set_leader(name, false);
                    }
                    match elector.acquire(&shutdown).await {
                        Some(l) => Some(l),
                        None => break,
                    }
                }
                None => None,
            };
            if let Some(name) = &lease_name {
                self.metrics.set_leader(name, true);
            }
            let lost = leadership.as_ref().map(|l| l.lost());
            let ended = self.run_term(&shutdown, lost.as_ref()).await;
            if let Some(name) = &lease_name {
                self.metrics.set_leader(name, false);
            }
            if shutdown.is_triggered() || ended {
                if let Some(l) = leadership {
                    l.release().await;
                }
                break;
            }
            tracing::warn!(identity = %self.identity, "lost the lease: controllers stopped, competing again");
        }
        if self.own_factory {
            self.factory.stop().await;
        }
        Ok(())
    }

    /// One leadership term: runs every controller until shutdown, the Lease is lost, or
    /// every controller ended by itself (then returns true).
    async fn run_term(&self, shutdown: &Shutdown, lost: Option<&Shutdown>) -> bool {
        self.factory.start();
        let (term_trigger, term) = shutdown.child();
        let mut tasks = JoinSet::new();
        for runnable in &self.runnables {
            let ctx = RunContext {
                client: self.client.clone(),
                factory: self.factory.clone(),
                registry: self.registry.clone(),
                metrics: self.metrics.clone(),
                shutdown: term.clone(),
                identity: self.identity.clone(),
            };
            let runnable = runnable.clone();
            tasks.spawn(async move {
                let name = runnable.name().to_owned();
                (name, runnable.run(ctx).await)
            });
        }
        let lost_signal = lost.cloned().unwrap_or_else(Shutdown::never);
        let mut all_ended = false;
        loop {
            tokio::select! {
                () = shutdown.triggered() => break,
                () = lost_signal.triggered() => break,
                next = tasks.join_next() => match next {
                    Some(done) => report(done),
                    None => {
                        all_ended = true;
                        break;
                    }
                },
            }
        }
        term_trigger.trigger();
        while let Some(done) = tasks.join_next().await {
            report(done);
        }
        all_ended
    }
}

fn report(done: std::result::Result<(String, Result<()>), tokio::task::JoinError>) {
    match done {
        Ok((_, Ok(()))) => {}
        Ok((name, Err(e))) => {
            let e = Error::Controller {
                name,
                source: Box::new(e),
            };
            tracing::error!(error = %e, "a controller failed");
        }
        Err(e) => tracing::error!(error = %e, "a controller task ended abnormally"),
    }
}
