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
//! - [`Engine`]: all of the above behind one `&mut`, around the framework or any other
//!   [`kube_core::Scheduler`] ([`Algorithm`]).
//! - [`SchedulerRunner`] ([`runner`]): the scheduling loop against an API server.
//!   Informers on nodes and pods feed the engine on a dedicated thread; bindings
//!   (`pods/binding`), `PodScheduled=False` conditions and `status.nominatedNodeName`
//!   (`pods/status`) and preemption's evictions are written by tasks on the async
//!   runtime, so neither waits for the other.
//!
//! # Where the time goes, and how it is kept short
//!
//! A cycle visits hundreds to thousands of nodes, so the per-node work is what counts:
//!
//! - Filter and Score plugins get a [`framework::NodeRef`]: the node's info plus an 88-byte
//!   [`framework::NodeSummary`] (resources, taint and cordon flags) kept in one contiguous
//!   table in snapshot order and refreshed only where the cache replaced a node. The
//!   default resource and taint checks never touch the scattered `NodeInfo` and `Node`.
//! - Skipped plugins are frozen into bit masks once per cycle; Score plugins score all
//!   feasible nodes in one call; a rejection with one reason allocates nothing, and
//!   rejections become [`kube_core::NodeRejection`]s only when no node fits.
//! - What depends on the whole cluster (PodTopologySpread's and InterPodAffinity's counts
//!   per domain, NodeAffinity's answer per node) is kept per node for the last few pod
//!   signatures and recomputed only for nodes replaced since: pods of one workload pay
//!   for what changed, not for the cluster's size.
//! - The snapshot is updated by generation, never copied whole; nominated pods keep the
//!   room preemption made for them.
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
    SchedulerRunnerBuilder, StatsReader,
};
