//! Kubernetes' built-in controllers, each a [`Runnable`](crate::Runnable) for a
//! [`ControllerManager`](crate::ControllerManager).

mod claim;
pub mod deployment;
pub mod endpoints;
mod expectations;
mod pods;
pub mod replicaset;

pub use deployment::{DeploymentConfig, DeploymentController};
pub use endpoints::{EndpointsConfig, EndpointsController};
pub use replicaset::{ReplicaSetConfig, ReplicaSetController};
