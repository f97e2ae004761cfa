//! Kubernetes' built-in controllers, each a [`Runnable`](crate::Runnable) for a
//! [`ControllerManager`](crate::ControllerManager).

mod claim;
mod expectations;
mod pods;
pub mod replicaset;

pub use replicaset::{ReplicaSetConfig, ReplicaSetController};
