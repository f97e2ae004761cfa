//! Scheduling for kube-sdk: a scheduling framework with Kubernetes' extension points and
//! default plugins.
//!
//! - [`FrameworkScheduler`] implements [`kube_core::Scheduler`] from [`Profile`]s of
//!   plugins, one per `spec.schedulerName`: PreFilter, Filter over an adaptive share of
//!   the nodes from a rotating start, PostFilter (preemption), PreScore, Score with
//!   normalisation and weights, then Reserve, Permit (allow, reject, or wait with a
//!   timeout), PreBind, Bind and PostBind.
//! - [`plugins`]: NodeName, NodeUnschedulable, TaintToleration, NodeAffinity,
//!   NodeResourcesFit (LeastAllocated, MostAllocated, RequestedToCapacityRatio),
//!   NodeResourcesBalancedAllocation, NodePorts, PodTopologySpread, InterPodAffinity,
//!   ImageLocality, DefaultPreemption, DefaultBinder; and Coscheduling, a gang plugin on
//!   Permit, as the example of extending the framework.
//! - [`SchedulingQueue`]: active (priority, then creation time), backoff (1 s to 10 s,
//!   exponential) and unschedulable pods that cluster events move back.
//! - [`Cache`]: nodes with bound and assumed pods; refreshes the per-cycle
//!   [`kube_core::Snapshot`] incrementally, by generation.
//! - [`Engine`]: all of the above behind one `&mut`, for the loop that feeds it from
//!   informers and binds its answers.
//!
//! ```
//! use std::sync::Arc;
//! use kube_core::{PodInfo, Scheduler, Snapshot};
//! use kube_sched::{FrameworkConfig, FrameworkScheduler, plugins, testing};
//!
//! let scheduler = FrameworkScheduler::new(
//!     [plugins::default_plugins("default-scheduler").build()],
//!     FrameworkConfig::default(),
//! );
//! let snapshot = Snapshot::from_nodes([
//!     testing::node("small").cpu("1").memory("1Gi").info(),
//!     testing::node("large").cpu("8").memory("32Gi").info(),
//! ]);
//! let pod = testing::pod("web").requests("2", "1Gi").arc();
//! assert_eq!(scheduler.schedule(&pod, &snapshot).unwrap().node, "large");
//!
//! let huge = testing::pod("huge").requests("64", "1Gi").arc();
//! let why = scheduler.schedule(&huge, &snapshot).unwrap_err();
//! assert_eq!(why.message(), "0/2 nodes are available: 2 Insufficient cpu.");
//! ```
#![warn(missing_docs)]

pub mod cache;
mod engine;
mod error;
pub mod events;
pub mod framework;
pub mod plugins;
#[cfg(test)]
mod properties;
pub mod queue;
pub mod runner;
pub mod testing;

pub use cache::{Cache, CacheError};
pub use engine::{Algorithm, Binding, Engine, Outcome};
pub use error::{Error, Result};
pub use events::{ClusterEvent, EventAction, EventResource};
pub use framework::{
    CycleState, DEFAULT_SCHEDULER_NAME, FrameworkConfig, FrameworkScheduler, NominatedPods,
    Profile, ProfileBuilder, WaitingPods,
};
pub use queue::{QueueConfig, QueuedPod, SchedulingQueue};
pub use runner::{
    ApiBinder, RunnerConfig, RunnerError, RunnerHandle, RunnerStats, SchedulerRunner,
    SchedulerRunnerBuilder,
};
