//! The controller runtime: work queue, rate limiter, triggers, workers, the typed
//! [`Controller`] builder and the [`DynController`] adapter for [`kube_core::Controller`],
//! finalizers, event recording, leader election and metrics.

pub mod controller;
pub mod dyn_controller;
pub mod endpoint;
pub mod finalizer;
pub mod leader;
pub mod metrics;
pub mod queue;
pub mod rate_limiter;
pub mod recorder;
pub mod runnable;
pub(crate) mod runner;
pub mod source;
mod trigger;

pub use controller::{Controller, ControllerConfig, DEFAULT_WORKERS};
pub use dyn_controller::DynController;
pub use endpoint::{MetricsSource, serve_endpoint, serve_metrics};
pub use finalizer::{FinalizerError, FinalizerEvent, finalizer};
pub use leader::{LeaderElectionConfig, LeaderElector, Leadership};
pub use metrics::{ControllerMetrics, ControllerSnapshot, Metrics};
pub use queue::WorkQueue;
pub use rate_limiter::{RateLimiter, RateLimiterConfig};
pub use recorder::EventRecorder;
pub use runnable::{RunContext, Runnable};
pub use runner::ErrorAction;
pub use source::{AnyInformer, AnyObject, KindRegistry};
