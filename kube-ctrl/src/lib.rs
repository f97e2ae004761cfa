//! Controllers for kube-sdk: the controller runtime, the controller manager with
//! Kubernetes' built-in controllers, and the cloud controller manager.
//!
//! - **Runtime** ([`runtime`]): a [`WorkQueue`] that deduplicates keys, never gives one
//!   key to two workers, and retries failures with per-key exponential backoff under an
//!   overall token bucket (client-go's 5 ms..1000 s and 10 qps / 100 burst); controllers
//!   in kube-rs's shape ([`Controller`]) or as [`kube_core::Controller`] trait objects
//!   ([`DynController`]), their informers shared per kind through one
//!   [`SharedInformerFactory`](kube_api::informer::SharedInformerFactory); a bounded
//!   default of [`DEFAULT_WORKERS`](runtime::DEFAULT_WORKERS) workers; a
//!   [finalizer helper](mod@runtime::finalizer); an [`EventRecorder`] that folds repeats;
//!   [leader election](LeaderElector) on a Lease; graceful [`Shutdown`]; Prometheus
//!   [`Metrics`], served with [`serve_metrics`].
//! - **[`ControllerManager`]**: runs any set of controllers, built-in and yours, under one
//!   leader election, sharing one informer per kind.
//! - **[`controllers`]**: ReplicaSet, Deployment, Endpoints, NodeLifecycle, node IPAM,
//!   GarbageCollector, Namespace, DaemonSet and Job, with Kubernetes' semantics.
//! - **[`cloud`]**: the [`CloudControllerManager`](cloud::CloudControllerManager) over a
//!   [`kube_core::CloudProvider`], with [`LocalCloud`](cloud::LocalCloud) for one machine.
//! - **[`testing`]**: test doubles.
//!
//! A controller of your own, in the shape kube-rs users know:
//!
//! ```no_run
//! use std::sync::Arc;
//! use kube_api::client::{Api, Client};
//! use kube_core::{Action, ConfigMap, Secret};
//! use kube_ctrl::{Controller, ErrorAction, Shutdown};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("{0}")]
//! struct Oops(String);
//!
//! async fn reconcile(cm: Arc<ConfigMap>, _ctx: Arc<()>) -> Result<Action, Oops> {
//!     tracing::info!(keys = cm.data.len(), "reconciled {:?}", cm.metadata.name);
//!     Ok(Action::Done)
//! }
//!
//! # async fn demo(client: Client) {
//! let (stop, shutdown) = Shutdown::new();
//! Controller::new(Api::<ConfigMap>::all(client))
//!     .owns::<Secret>()
//!     .graceful_shutdown_on(shutdown)
//!     .run(reconcile, |_, _: &Oops, _| ErrorAction::Backoff, Arc::new(()))
//!     .await;
//! # drop(stop);
//! # }
//! ```
//!
//! Kubernetes' controller manager, with its leader election:
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
#![warn(missing_docs)]

pub mod cloud;
pub mod controllers;
mod error;
pub mod manager;
pub mod runtime;
pub mod shutdown;
pub mod testing;

pub use error::{Error, Result};
pub use manager::{ControllerManager, ControllerManagerBuilder};
pub use runtime::{
    Controller, ControllerConfig, DynController, ErrorAction, EventRecorder, KindRegistry,
    LeaderElectionConfig, LeaderElector, Metrics, MetricsSource, RunContext, Runnable, WorkQueue,
    serve_endpoint, serve_metrics,
};
pub use shutdown::{Shutdown, ShutdownTrigger};
