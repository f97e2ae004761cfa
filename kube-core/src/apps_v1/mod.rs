//! The `apps/v1` API group: `ReplicaSet`, `Deployment`, `DaemonSet`.

mod daemon_set;
mod deployment;
mod replica_set;

pub use daemon_set::*;
pub use deployment::*;
pub use replica_set::*;
