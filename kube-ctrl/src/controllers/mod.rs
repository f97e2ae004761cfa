//! Kubernetes' built-in controllers, each a [`Runnable`](crate::Runnable) for a
//! [`ControllerManager`](crate::ControllerManager).

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
