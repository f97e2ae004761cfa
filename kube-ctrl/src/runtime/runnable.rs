//! [`Runnable`]: what a manager runs while it leads, and [`RunContext`], what it hands to
//! each run.

use std::fmt;

use async_trait::async_trait;
use kube_api::client::Client;
use kube_api::informer::SharedInformerFactory;

use super::metrics::Metrics;
use super::recorder::EventRecorder;
use super::source::KindRegistry;
use crate::error::Result;
use crate::shutdown::Shutdown;

/// Everything a [`Runnable`] gets for one run (one leadership term of its manager).
#[derive(Clone)]
pub struct RunContext {
    /// The client to the API server.
    pub client: Client,
    /// The manager's informers: one list+watch and one cache per kind, shared by every
    /// controller of the manager.
    pub factory: SharedInformerFactory,
    /// Which typed informer serves each kind (for controllers that name kinds at run time).
    pub registry: KindRegistry,
    /// Where controllers count reconciles and queue depths.
    pub metrics: Metrics,
    /// Fires when the run must end: the manager shuts down or lost its lease.
    pub shutdown: Shutdown,
    /// The name of this manager instance, for events' `reportingInstance` and logs.
    pub identity: String,
}

impl fmt::Debug for RunContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunContext")
            .field("identity", &self.identity)
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

impl RunContext {
    /// An event recorder for a component (`"replicaset-controller"`).
    pub fn recorder(&self, component: &str) -> EventRecorder {
        EventRecorder::new(self.client.clone(), component, &self.identity)
    }
}

/// Something a manager runs while it holds its lease: a built-in controller, a typed
/// [`Controller`](super::Controller) turned into one with
/// [`Controller::into_runnable`](super::Controller::into_runnable), or a
/// [`kube_core::Controller`] wrapped by [`DynController`](super::DynController).
///
/// `run` is called once per leadership term and returns when `ctx.shutdown` fires; state
/// it builds (work queues, expectations) lives for that term only.
#[async_trait]
pub trait Runnable: Send + Sync + 'static {
    /// The name for logs and metrics (`"replicaset"`).
    fn name(&self) -> &str;

    /// Runs until `ctx.shutdown` fires.
    async fn run(&self, ctx: RunContext) -> Result<()>;
}
