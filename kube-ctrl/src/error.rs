//! The crate's error type.

use kube_core::{BoxError, CloudError};

/// What can go wrong in the controller runtime, the managers and the built-in controllers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the API server failed.
    #[error("API request failed: {0}")]
    Api(#[source] kube_core::Error),
    /// An object could not be encoded or decoded.
    #[error("cannot convert {what}: {source}")]
    Serde {
        /// What was being converted.
        what: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The cloud provider failed.
    #[error("cloud provider: {0}")]
    Cloud(#[source] CloudError),
    /// A setting is invalid (a CIDR that does not parse, a zero lease duration...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An object is not in a shape the controller can act on (a selector that does not
    /// parse, a percentage that does not resolve...). Retrying will not help until the
    /// object changes.
    #[error("invalid object {object}: {message}")]
    InvalidObject {
        /// The object's key.
        object: String,
        /// What is wrong with it.
        message: String,
    },
    /// A controller run by a manager failed.
    #[error("controller {name} failed: {source}")]
    Controller {
        /// The controller's name.
        name: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// This manager lost its leader lease and stopped its controllers.
    #[error("lost the leader lease {0}")]
    LostLeadership(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<kube_core::Error> for Error {
    fn from(e: kube_core::Error) -> Self {
        Self::Api(e)
    }
}

impl From<CloudError> for Error {
    fn from(e: CloudError) -> Self {
        Self::Cloud(e)
    }
}

impl Error {
    /// The HTTP code of an API error, if this is one.
    pub fn api_code(&self) -> Option<u16> {
        match self {
            Self::Api(e) => Some(e.code()),
            _ => None,
        }
    }

    /// True for a 409 Conflict from the API server: the object changed under us, and the
    /// next reconcile (from a fresher cache) will do better.
    pub fn is_conflict(&self) -> bool {
        self.api_code() == Some(409)
    }

    /// True for a 404 from the API server.
    pub fn is_not_found(&self) -> bool {
        self.api_code() == Some(404)
    }

    pub(crate) fn invalid(object: &impl ToString, message: impl Into<String>) -> Self {
        Self::InvalidObject {
            object: object.to_string(),
            message: message.into(),
        }
    }
}
