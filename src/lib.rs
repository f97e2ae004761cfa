//! kube-sdk: build your own orchestrator from Kubernetes' parts.
//!
//! The parts live in their own crates, re-exported here: [`core`] (the object model and
//! the traits a platform implements), [`store`] (versioned stores), [`api`] (the API
//! server, its client and informers), [`sched`] (the scheduler), [`ctrl`] (controllers),
//! [`node`] (the node agent and container runtimes) and [`net`] (the service proxy). This
//! package assembles them: [`ControlPlane::builder`] puts a store, the API server and its
//! layers together and runs them.
//!
//! ```
//! use kube_sdk::prelude::*;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let cluster = ControlPlane::builder().build().await?.start().await?;
//! let namespaces: Api<Namespace> = Api::all(cluster.client());
//! let names: Vec<String> = namespaces
//!     .list(&ListParams::default())
//!     .await?
//!     .into_iter()
//!     .filter_map(|ns| ns.metadata.name)
//!     .collect();
//! assert!(names.contains(&"kube-system".to_owned()));
//! cluster.shutdown().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![warn(missing_docs)]

mod control_plane;
mod error;
mod metrics;
mod node_agent;
pub mod prelude;
mod reference;
mod store_choice;

pub use control_plane::{ControlPlane, ControlPlaneBuilder, RunningControlPlane, SchedulerChoice};
pub use error::BuildError;
pub use node_agent::{NodeAgent, NodeAgentBuilder, RunningNodeAgent};
pub use reference::{LOAD_BALANCER_CIDR, ReferenceCluster, ReferenceClusterConfig};
pub use store_choice::StoreChoice;

pub use kube_api as api;
pub use kube_core as core;
pub use kube_ctrl as ctrl;
pub use kube_net as net;
pub use kube_node as node;
pub use kube_sched as sched;
pub use kube_store as store;
