//! The cloud controller manager: the controllers that talk to a [`CloudProvider`].
//!
//! - [`CloudNodeController`]: provider ids, addresses, zone, region and instance-type
//!   labels on Nodes; Nodes whose machine is gone are deleted.
//! - [`ServiceLbController`]: `LoadBalancer` Services get their ingress from the
//!   provider, released through a finalizer when they go.
//! - [`LocalCloud`]: the reference provider for one machine, handing out load-balancer
//!   addresses from a configured range; [`FakeCloud`]: a test double.
//!
//! ```no_run
//! # async fn demo(client: kube_api::client::Client) -> kube_ctrl::Result<()> {
//! use kube_ctrl::cloud::{CloudControllerManager, LocalCloud, LocalCloudConfig};
//! use kube_ctrl::Shutdown;
//!
//! let cloud = LocalCloud::new(LocalCloudConfig::default())?;
//! let ccm = CloudControllerManager::builder(client, cloud).build()?;
//! let (_stop, shutdown) = Shutdown::new();
//! ccm.run(shutdown).await
//! # }
//! ```

pub mod fake;
pub mod local;
pub mod node;
pub mod service;

use std::fmt;
use std::sync::Arc;

use kube_api::client::Client;
use kube_core::CloudProvider;

pub use fake::FakeCloud;
pub use local::{LocalCloud, LocalCloudConfig};
pub use node::{
    CloudNodeConfig, CloudNodeController, LABEL_INSTANCE_TYPE, LABEL_REGION, LABEL_ZONE,
    TAINT_SHUTDOWN, TAINT_UNINITIALIZED,
};
pub use service::{EXCLUDE_LB_LABEL, LB_CLEANUP_FINALIZER, ServiceLbConfig, ServiceLbController};

use crate::error::Result;
use crate::manager::ControllerManager;
use crate::runtime::{LeaderElectionConfig, Metrics};
use crate::shutdown::Shutdown;

/// The settings of a [`CloudControllerManager`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CloudConfig {
    /// The node controller.
    pub node: CloudNodeConfig,
    /// The service controller.
    pub service: ServiceLbConfig,
}

/// Builds a [`CloudControllerManager`].
#[must_use]
pub struct CloudControllerManagerBuilder {
    client: Client,
    provider: Arc<dyn CloudProvider>,
    config: CloudConfig,
    leader_election: Option<LeaderElectionConfig>,
    identity: Option<String>,
    metrics: Option<Metrics>,
}

impl fmt::Debug for CloudControllerManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudControllerManagerBuilder")
            .field("provider", &self.provider.name())
            .field("config", &self.config)
            .field("leader_election", &self.leader_election)
            .finish_non_exhaustive()
    }
}

impl CloudControllerManagerBuilder {
    /// The controllers' settings.
    pub fn config(mut self, config: CloudConfig) -> Self {
        self.config = config;
        self
    }

    /// Elects a leader first (the Lease is usually `cloud-controller-manager`).
    pub fn leader_election(mut self, config: LeaderElectionConfig) -> Self {
        self.leader_election = Some(config);
        self
    }

    /// This instance's name.
    pub fn identity(mut self, identity: &str) -> Self {
        self.identity = Some(identity.to_owned());
        self
    }

    /// Counts into `metrics`, shared with other managers of the process.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The manager.
    pub fn build(self) -> Result<CloudControllerManager> {
        let mut builder = ControllerManager::builder(self.client)
            .with(CloudNodeController::new(
                self.provider.clone(),
                self.config.node,
            ))
            .with(ServiceLbController::new(self.provider, self.config.service));
        if let Some(id) = &self.identity {
            builder = builder.identity(id);
        }
        if let Some(le) = self.leader_election {
            builder = builder.leader_election(le);
        }
        if let Some(metrics) = self.metrics {
            builder = builder.with_metrics(metrics);
        }
        Ok(CloudControllerManager {
            manager: builder.build()?,
        })
    }
}

/// Runs the cloud controllers under one leader election; see the [module docs](self).
#[derive(Debug)]
pub struct CloudControllerManager {
    manager: ControllerManager,
}

impl CloudControllerManager {
    /// A builder over this provider.
    pub fn builder(client: Client, provider: impl CloudProvider) -> CloudControllerManagerBuilder {
        Self::builder_arc(client, Arc::new(provider))
    }

    /// A builder over a shared provider.
    pub fn builder_arc(
        client: Client,
        provider: Arc<dyn CloudProvider>,
    ) -> CloudControllerManagerBuilder {
        CloudControllerManagerBuilder {
            client,
            provider,
            config: CloudConfig::default(),
            leader_election: None,
            identity: None,
            metrics: None,
        }
    }

    /// Runs until `shutdown` fires; see [`ControllerManager::run`].
    pub async fn run(&self, shutdown: Shutdown) -> Result<()> {
        self.manager.run(shutdown).await
    }

    /// The controllers' metrics.
    pub fn metrics(&self) -> &Metrics {
        self.manager.metrics()
    }
}
