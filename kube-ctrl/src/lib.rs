//! Controllers for kube-sdk: the controller runtime, the controller manager with
//! Kubernetes' built-in controllers, and the cloud controller manager.
//!
//! - **Runtime** ([`runtime`]): a work queue that deduplicates keys, never gives one key
//!   to two workers, and retries failures with per-key exponential backoff under an
//!   overall token bucket (client-go's defaults); controllers in kube-rs's shape
//!   ([`Controller`]) or as [`kube_core::Controller`] trait objects ([`DynController`]);
//!   informers shared per kind through one factory; a finalizer helper; an event recorder
//!   that folds repeats; leader election on a Lease; graceful shutdown; Prometheus
//!   metrics.
//! - **[`ControllerManager`]**: runs any set of controllers under one leader election.
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
//!     println!("{:?} has {} keys", cm.metadata.name, cm.data.len());
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
#![warn(missing_docs)]

pub mod cloud;
pub mod controllers;
mod error;
mod manager;
pub mod runtime;
mod shutdown;

pub use error::{Error, Result};
pub use manager::{ControllerManager, ControllerManagerBuilder};
pub use runtime::{
    Controller, ControllerConfig, DynController, ErrorAction, EventRecorder, KindRegistry,
    LeaderElectionConfig, LeaderElector, Metrics, RunContext, Runnable, WorkQueue,
};
pub use shutdown::{Shutdown, ShutdownTrigger};
