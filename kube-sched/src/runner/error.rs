//! Errors of the scheduling loop.

/// Why the scheduling loop could not run or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The scheduling thread could not be started.
    #[error("cannot start the scheduling thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The scheduling thread ended without handing back its work (it panicked).
    #[error("the scheduling thread stopped unexpectedly")]
    ThreadStopped,
    /// The task running the loop failed (it panicked or was aborted).
    #[error("the scheduler task failed: {0}")]
    Join(#[source] tokio::task::JoinError),
}
