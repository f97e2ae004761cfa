//! Kubernetes' built-in controllers, each a [`Runnable`](crate::Runnable) for a
//! [`ControllerManager`](crate::ControllerManager).

mod claim;
pub mod deployment;
mod expectations;
mod pods;
pub mod replicaset;

pub use deployment::{DeploymentConfig, DeploymentController};
pub use replicaset::{ReplicaSetConfig, ReplicaSetController};
