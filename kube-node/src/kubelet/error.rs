//! [`Error`]: why the node agent could not start or do its work.

/// Why the node agent failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("{action}")]
    Api {
        /// What the agent was doing.
        action: String,
        /// The API error.
        #[source]
        source: Box<kube_core::Error>,
    },
    /// The container runtime failed.
    #[error("{action}")]
    Runtime {
        /// What the agent was doing.
        action: String,
        /// The runtime error.
        #[source]
        source: Box<kube_core::RuntimeError>,
    },
    /// The HTTPS server could not start.
    #[error("the node server: {message}")]
    Server {
        /// What failed.
        message: String,
        /// The cause.
        #[source]
        source: Option<kube_core::BoxError>,
    },
    /// The configuration is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    pub(crate) fn api(action: impl Into<String>) -> impl FnOnce(kube_core::Error) -> Self {
        let action = action.into();
        move |source| Self::Api {
            action,
            source: Box::new(source),
        }
    }

    pub(crate) fn runtime(
        action: impl Into<String>,
    ) -> impl FnOnce(kube_core::RuntimeError) -> Self {
        let action = action.into();
        move |source| Self::Runtime {
            action,
            source: Box::new(source),
        }
    }
}

/// The result of the node agent's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
