//! The scheduling loop against an API server: informers on nodes and pods feed the queue
//! and the cache, a dedicated thread runs the scheduling cycles, and tasks on the async
//! runtime bind (`pods/binding`), record failures (`pods/status`) and evict preemption
//! victims.
//!
//! The same loop drives the [`FrameworkScheduler`] and any other
//! [`Scheduler`](kube_core::Scheduler): the framework binds through its Bind plugins
//! after Reserve and Permit; another scheduler's answers are bound by the loop itself.
//!
//! ```no_run
//! # async fn demo(client: kube_api::client::Client) -> Result<(), kube_sched::RunnerError> {
//! use kube_sched::SchedulerRunner;
//!
//! // Kubernetes' default plugins, binding through the API server.
//! let handle = SchedulerRunner::builder(client).build().spawn();
//! // ... later
//! handle.shutdown().await?;
//! # Ok(())
//! # }
//! ```

mod api;
mod error;
mod feed;
mod ordering;
mod thread;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use kube_api::client::Client;
use kube_api::informer::SharedInformerFactory;
use kube_core::{Node, Pod, Scheduler};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

pub use api::{ApiBinder, REASON_PREEMPTION, REASON_SCHEDULER_ERROR, REASON_UNSCHEDULABLE};
pub use error::RunnerError;

use crate::cache::Cache;
use crate::engine::{Algorithm, Engine};
use crate::framework::{FrameworkConfig, FrameworkScheduler};
use crate::plugins::{self, PodBinder};
use crate::queue::QueueConfig;
use thread::{LoopThread, Msg};

/// Settings of a [`SchedulerRunner`].
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// The queue's backoffs and the longest a pod stays unschedulable without a retry.
    pub queue: QueueConfig,
    /// How long an assumed pod whose binding succeeded waits for the informer to confirm
    /// it before it is forgotten; `Duration::ZERO` (the default, as Kubernetes'
    /// scheduler has it): never. The informer confirms every binding or reports the pod's
    /// deletion, if late; forgetting the pod while its node still runs it would let the
    /// scheduler place pods into room that is taken (a lagging informer, 30 s behind in
    /// an overloaded 5,000-node simulation, made 33,000 assumed pods expire).
    pub assumed_pod_ttl: Duration,
    /// How long [`RunnerHandle::shutdown`] waits for bindings and status writes in
    /// flight before it abandons them.
    pub shutdown_timeout: Duration,
    /// The name of the scheduling thread.
    pub thread_name: String,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            queue: QueueConfig::default(),
            assumed_pod_ttl: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(30),
            thread_name: "kube-sched".to_owned(),
        }
    }
}

/// What the loop has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunnerStats {
    /// The informers delivered their first complete lists: scheduling has begun.
    pub synced: bool,
    /// Scheduling cycles run (one per pod attempt).
    pub cycles: u64,
    /// Pods bound.
    pub bound: u64,
    /// Attempts that found no node (or were refused by Reserve or Permit).
    pub unschedulable: u64,
    /// Binding cycles that failed (the pod was requeued, or was gone).
    pub bind_failures: u64,
    /// Pods evicted by preemption.
    pub victims: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    synced: AtomicBool,
    cycles: AtomicU64,
    bound: AtomicU64,
    unschedulable: AtomicU64,
    bind_failures: AtomicU64,
    victims: AtomicU64,
}

impl Counters {
    fn stats(&self) -> RunnerStats {
        RunnerStats {
            synced: self.synced.load(Ordering::Relaxed),
            cycles: self.cycles.load(Ordering::Relaxed),
            bound: self.bound.load(Ordering::Relaxed),
            unschedulable: self.unschedulable.load(Ordering::Relaxed),
            bind_failures: self.bind_failures.load(Ordering::Relaxed),
            victims: self.victims.load(Ordering::Relaxed),
        }
    }
}

/// The scheduler as a running component: see the [module docs](self).
#[derive(Debug)]
pub struct SchedulerRunner {
    client: Client,
    algorithm: Algorithm,
    binder: Arc<dyn PodBinder>,
    factory: Option<SharedInformerFactory>,
    config: RunnerConfig,
    counters: Arc<Counters>,
}

/// Builds a [`SchedulerRunner`].
#[derive(Debug)]
#[must_use]
pub struct SchedulerRunnerBuilder {
    client: Client,
    algorithm: Option<Algorithm>,
    factory: Option<SharedInformerFactory>,
    config: RunnerConfig,
}

impl SchedulerRunner {
    /// A runner talking to the API server through `client`. Without further choice it
    /// runs Kubernetes' default plugins under `default-scheduler`, binding through
    /// `pods/binding`.
    pub fn builder(client: Client) -> SchedulerRunnerBuilder {
        SchedulerRunnerBuilder {
            client,
            algorithm: None,
            factory: None,
            config: RunnerConfig::default(),
        }
    }

    /// What the loop has done so far.
    pub fn stats(&self) -> RunnerStats {
        self.counters.stats()
    }

    /// Runs the loop on a new task; the handle stops it.
    pub fn spawn(self) -> RunnerHandle {
        let (stop, stopped) = oneshot::channel::<()>();
        let counters = Arc::clone(&self.counters);
        let task = tokio::spawn(self.run(async move {
            let _ = stopped.await;
        }));
        RunnerHandle {
            stop: Some(stop),
            task,
            counters,
        }
    }

    /// Runs the loop until `shutdown` completes, then stops gracefully: no new cycle
    /// starts, pods held at Permit are rejected, bindings and status writes in flight get
    /// up to [`RunnerConfig::shutdown_timeout`] to finish, and the informers the runner
    /// started stop.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), RunnerError> {
        let own_factory = self.factory.is_none();
        let factory = self
            .factory
            .unwrap_or_else(|| SharedInformerFactory::new(self.client.clone()));
        let nodes = factory.informer::<Node>();
        let pods = factory.informer::<Pod>();
        let node_events = nodes.subscribe();
        let pod_events = pods.subscribe();
        factory.start();

        let (tx, rx) = std::sync::mpsc::channel();
        let feeds = [
            tokio::spawn(feed::forward(
                node_events,
                nodes.cache(),
                tx.clone(),
                Msg::Node,
                Msg::NodesSynced,
            )),
            tokio::spawn(feed::forward(
                pod_events,
                pods.cache(),
                tx.clone(),
                Msg::Pod,
                Msg::PodsSynced,
            )),
        ];
        let engine = Engine::with_algorithm(
            self.algorithm,
            self.config.queue.clone(),
            Cache::new(self.config.assumed_pod_ttl),
        );
        let loop_thread = LoopThread {
            engine,
            rx,
            tx: tx.clone(),
            runtime: tokio::runtime::Handle::current(),
            client: self.client,
            binder: self.binder,
            counters: self.counters,
            tasks: JoinSet::new(),
            writes: ordering::PodWrites::default(),
            nodes_synced: false,
            pods_synced: false,
        };
        let (done_tx, done_rx) = oneshot::channel::<JoinSet<()>>();
        std::thread::Builder::new()
            .name(self.config.thread_name.clone())
            .spawn(move || {
                let tasks = loop_thread.run();
                let _ = done_tx.send(tasks);
            })
            .map_err(RunnerError::Thread)?;
        tracing::info!("scheduler started");

        let mut done_rx = done_rx;
        let finished = tokio::select! {
            () = shutdown => None,
            tasks = &mut done_rx => Some(tasks),
        };
        let tasks = match finished {
            Some(tasks) => tasks,
            None => {
                // The thread only ends when told to, or when every sender is gone.
                let _ = tx.send(Msg::Shutdown);
                done_rx.await
            }
        };
        drop(tx);
        for f in &feeds {
            f.abort();
        }
        if own_factory {
            factory.shutdown();
        }
        let mut tasks = tasks.map_err(|_| RunnerError::ThreadStopped)?;
        let drained = tokio::time::timeout(self.config.shutdown_timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                abandoned = tasks.len(),
                "API writes still in flight at shutdown"
            );
            tasks.abort_all();
        }
        tracing::info!("scheduler stopped");
        Ok(())
    }
}

impl SchedulerRunnerBuilder {
    /// Runs this framework (its profiles name the pods it serves; they should bind
    /// through an [`ApiBinder`]).
    pub fn framework(mut self, framework: Arc<FrameworkScheduler>) -> Self {
        self.algorithm = Some(Algorithm::Framework(framework));
        self
    }

    /// Runs a platform's own [`Scheduler`] for the pods whose `spec.schedulerName` is one
    /// of `scheduler_names`; the loop binds its answers through `pods/binding`.
    pub fn scheduler(
        mut self,
        scheduler: Arc<dyn Scheduler>,
        scheduler_names: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.algorithm = Some(Algorithm::Custom {
            scheduler,
            scheduler_names: scheduler_names.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Shares this informer factory (one list+watch per kind with the process's other
    /// components) instead of starting one. The runner starts it but leaves stopping it
    /// to its owner.
    pub fn informer_factory(mut self, factory: SharedInformerFactory) -> Self {
        self.factory = Some(factory);
        self
    }

    /// Settings.
    pub fn config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// The runner.
    pub fn build(self) -> SchedulerRunner {
        let binder: Arc<dyn PodBinder> = Arc::new(ApiBinder::new(self.client.clone()));
        let algorithm = self.algorithm.unwrap_or_else(|| {
            Algorithm::Framework(Arc::new(FrameworkScheduler::new(
                [plugins::default_profile(Arc::clone(&binder))],
                FrameworkConfig::default(),
            )))
        });
        SchedulerRunner {
            client: self.client,
            algorithm,
            binder,
            factory: self.factory,
            config: self.config,
            counters: Arc::default(),
        }
    }
}

/// Reads a running loop's [`RunnerStats`]; see [`RunnerHandle::stats_reader`].
#[derive(Clone, Debug)]
pub struct StatsReader(Arc<Counters>);

impl StatsReader {
    /// What the loop has done so far.
    pub fn stats(&self) -> RunnerStats {
        self.0.stats()
    }
}

/// A running [`SchedulerRunner`]: stop it with [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct RunnerHandle {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), RunnerError>>,
    counters: Arc<Counters>,
}

impl RunnerHandle {
    /// What the loop has done so far.
    pub fn stats(&self) -> RunnerStats {
        self.counters.stats()
    }

    /// A cheap, cloneable view of the loop's counters that outlives this handle (for a
    /// metrics endpoint served beside the scheduler).
    pub fn stats_reader(&self) -> StatsReader {
        StatsReader(Arc::clone(&self.counters))
    }

    /// Stops the loop gracefully and waits until it has stopped.
    pub async fn shutdown(mut self) -> Result<(), RunnerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.map_err(RunnerError::Join)?
    }
}

impl Drop for RunnerHandle {
    fn drop(&mut self) {
        // Dropped without shutdown: stop the loop anyway, without waiting.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
