//! The workers: take a key from the queue, reconcile it in a span carrying the key, and
//! requeue it as the outcome says.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use kube_core::{Action, BoxError, ObjectKey};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::metrics::{ControllerMetrics, Outcome};
use super::queue::WorkQueue;
use crate::shutdown::Shutdown;

/// What happens to a key after a failed reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorAction {
    /// Retry after the rate limiter's delay: per-key exponential backoff, bounded by the
    /// overall token bucket. The default for errors.
    Backoff,
    /// Retry after exactly this long.
    RequeueAfter(Duration),
    /// Do not retry; wait for the next change.
    Drop,
}

impl From<Action> for ErrorAction {
    fn from(a: Action) -> Self {
        match a {
            Action::Done => Self::Drop,
            Action::RequeueAfter(d) => Self::RequeueAfter(d),
        }
    }
}

/// A failed reconcile: the error, and what to do next.
pub(crate) struct Failure {
    pub(crate) error: BoxError,
    pub(crate) then: ErrorAction,
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("error", &self.error.to_string())
            .field("then", &self.then)
            .finish()
    }
}

/// Reconciles one key.
pub(crate) type ReconcileFn =
    Arc<dyn Fn(ObjectKey) -> BoxFuture<'static, Result<Action, Failure>> + Send + Sync>;

/// Tasks aborted when dropped: a run whose future is dropped (a manager that lost its
/// task, a test that aborted it) leaves nothing behind.
pub(crate) struct Tasks(pub(crate) Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Runs `workers` workers over `queue` until `shutdown` fires, then stops the queue, lets
/// the reconciles in flight finish, and stops the triggers. Dropping the future stops
/// everything at once.
pub(crate) async fn run(
    name: Arc<str>,
    queue: WorkQueue<ObjectKey>,
    triggers: Vec<JoinHandle<()>>,
    workers: usize,
    reconcile: ReconcileFn,
    metrics: Arc<ControllerMetrics>,
    shutdown: Shutdown,
) {
    let mut triggers = Tasks(triggers);
    let mut handles = Tasks(
        (0..workers.max(1))
            .map(|_| {
                tokio::spawn(worker(
                    name.clone(),
                    queue.clone(),
                    reconcile.clone(),
                    metrics.clone(),
                ))
            })
            .collect(),
    );
    shutdown.triggered().await;
    tracing::debug!(controller = %name, "shutting down");
    queue.shut_down();
    for trigger in &triggers.0 {
        trigger.abort();
    }
    for handle in std::mem::take(&mut handles.0) {
        if let Err(e) = handle.await {
            tracing::error!(controller = %name, error = %e, "a worker ended abnormally");
        }
    }
    for trigger in std::mem::take(&mut triggers.0) {
        let _ = trigger.await;
    }
}

async fn worker(
    name: Arc<str>,
    queue: WorkQueue<ObjectKey>,
    reconcile: ReconcileFn,
    metrics: Arc<ControllerMetrics>,
) {
    while let Some(key) = queue.get().await {
        let span = tracing::info_span!("reconcile", controller = %name, object = %key);
        let started = Instant::now();
        metrics.worker_started();
        let result = AssertUnwindSafe(reconcile(key.clone()).instrument(span.clone()))
            .catch_unwind()
            .await;
        metrics.worker_finished();
        let took = started.elapsed();
        let _entered = span.enter();
        match result {
            Ok(Ok(Action::Done)) => {
                metrics.reconciled(Outcome::Success, took);
                queue.forget(&key);
            }
            Ok(Ok(Action::RequeueAfter(d))) => {
                metrics.reconciled(Outcome::Requeue, took);
                queue.forget(&key);
                queue.add_after(key.clone(), d);
            }
            Ok(Err(failure)) => {
                metrics.reconciled(Outcome::Error, took);
                let failures = queue.failures(&key);
                tracing::warn!(error = %failure.error, failures, "reconcile failed");
                requeue_after_failure(&queue, &key, failure.then);
            }
            Err(panic) => {
                metrics.reconciled(Outcome::Error, took);
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                tracing::error!(panic = %message, "reconcile panicked");
                queue.add_rate_limited(key.clone());
            }
        }
        drop(_entered);
        queue.done(&key);
    }
}

fn requeue_after_failure(queue: &WorkQueue<ObjectKey>, key: &ObjectKey, then: ErrorAction) {
    match then {
        ErrorAction::Backoff => queue.add_rate_limited(key.clone()),
        ErrorAction::RequeueAfter(d) => queue.add_after(key.clone(), d),
        ErrorAction::Drop => queue.forget(key),
    }
}
