//! Kubernetes' built-in controllers, each a [`Runnable`] for a
//! [`ControllerManager`](crate::ControllerManager): ReplicaSet, Deployment, Endpoints,
//! NodeLifecycle, node IPAM, GarbageCollector, Namespace, DaemonSet and Job.
//!
//! [`ControllersConfig`] holds the settings of each (`None` leaves it out), and
//! [`ControllerManagerBuilder::builtin_controllers`](crate::ControllerManagerBuilder::builtin_controllers)
//! adds them to a manager.

use std::sync::Arc;

use crate::error::Result;
use crate::runtime::Runnable;

mod claim;
pub mod daemonset;
pub mod deployment;
mod discovery;
pub mod endpoints;
mod expectations;
pub mod gc;
pub mod job;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
mod pods;
pub mod replicaset;
pub mod taints;

pub use daemonset::{DaemonSetConfig, DaemonSetController};
pub use deployment::{DeploymentConfig, DeploymentController};
pub use endpoints::{EndpointsConfig, EndpointsController};
pub use gc::{GarbageCollector, GarbageCollectorConfig};
pub use job::{JobConfig, JobController};
pub use namespace::{NamespaceConfig, NamespaceController};
pub use node_ipam::{NodeIpamConfig, NodeIpamController};
pub use node_lifecycle::{NodeLifecycleConfig, NodeLifecycleController};
pub use replicaset::{ReplicaSetConfig, ReplicaSetController};

/// The built-in controllers to run and their settings; `None` leaves one out. The
/// default runs all of them with Kubernetes' defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct ControllersConfig {
    /// The ReplicaSet controller.
    pub replicaset: Option<ReplicaSetConfig>,
    /// The Deployment controller.
    pub deployment: Option<DeploymentConfig>,
    /// The Endpoints controller.
    pub endpoints: Option<EndpointsConfig>,
    /// The NodeLifecycle controller.
    pub node_lifecycle: Option<NodeLifecycleConfig>,
    /// The node IPAM controller.
    pub node_ipam: Option<NodeIpamConfig>,
    /// The garbage collector.
    pub garbage_collector: Option<GarbageCollectorConfig>,
    /// The Namespace controller.
    pub namespace: Option<NamespaceConfig>,
    /// The DaemonSet controller.
    pub daemonset: Option<DaemonSetConfig>,
    /// The Job controller.
    pub job: Option<JobConfig>,
}

impl Default for ControllersConfig {
    fn default() -> Self {
        Self {
            replicaset: Some(ReplicaSetConfig::default()),
            deployment: Some(DeploymentConfig::default()),
            endpoints: Some(EndpointsConfig::default()),
            node_lifecycle: Some(NodeLifecycleConfig::default()),
            node_ipam: Some(NodeIpamConfig::default()),
            garbage_collector: Some(GarbageCollectorConfig::default()),
            namespace: Some(NamespaceConfig::default()),
            daemonset: Some(DaemonSetConfig::default()),
            job: Some(JobConfig::default()),
        }
    }
}

impl ControllersConfig {
    /// No controller at all (turn on the ones you want).
    pub fn none() -> Self {
        Self {
            replicaset: None,
            deployment: None,
            endpoints: None,
            node_lifecycle: None,
            node_ipam: None,
            garbage_collector: None,
            namespace: None,
            daemonset: None,
            job: None,
        }
    }

    /// The controllers this asks for; fails on invalid settings (a cluster CIDR that
    /// does not parse).
    pub fn build(&self) -> Result<Vec<Arc<dyn Runnable>>> {
        let mut out: Vec<Arc<dyn Runnable>> = Vec::new();
        if let Some(c) = &self.replicaset {
            out.push(Arc::new(ReplicaSetController::new(c.clone())));
        }
        if let Some(c) = &self.deployment {
            out.push(Arc::new(DeploymentController::new(c.clone())));
        }
        if let Some(c) = &self.endpoints {
            out.push(Arc::new(EndpointsController::new(c.clone())));
        }
        if let Some(c) = &self.node_lifecycle {
            out.push(Arc::new(NodeLifecycleController::new(c.clone())));
        }
        if let Some(c) = &self.node_ipam {
            out.push(Arc::new(NodeIpamController::new(c.clone())?));
        }
        if let Some(c) = &self.garbage_collector {
            out.push(Arc::new(GarbageCollector::new(c.clone())));
        }
        if let Some(c) = &self.namespace {
            out.push(Arc::new(NamespaceController::new(c.clone())));
        }
        if let Some(c) = &self.daemonset {
            out.push(Arc::new(DaemonSetController::new(c.clone())));
        }
        if let Some(c) = &self.job {
            out.push(Arc::new(JobController::new(c.clone())));
        }
        Ok(out)
    }
}
