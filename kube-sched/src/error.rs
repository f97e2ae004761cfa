//! Errors of the scheduling framework.

use kube_core::BoxError;

/// A failure of the framework outside the "no node fits" answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A plugin failed; the pod is retried after backoff.
    #[error("plugin {plugin} failed: {source}")]
    Plugin {
        /// The plugin's name.
        plugin: &'static str,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
    /// A Permit plugin rejected the pod, or rejected it while it waited.
    #[error("permit rejected by {plugin}: {message}")]
    PermitRejected {
        /// The plugin that rejected it.
        plugin: String,
        /// Why.
        message: String,
    },
    /// A Permit wait ran out of time before every plugin allowed the pod.
    #[error("permit wait timed out")]
    PermitTimeout,
    /// No Bind plugin handled the pod.
    #[error("no bind plugin handled the pod")]
    NotBound,
    /// No profile serves the pod's `spec.schedulerName`.
    #[error("no profile for scheduler name {0:?}")]
    UnknownProfile(String),
}

/// The result type of the framework.
pub type Result<T, E = Error> = std::result::Result<T, E>;
