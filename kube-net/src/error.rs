//! [`Error`]: what goes wrong in kube-net outside the [`NetworkProxy`] contract (commands
//! that program the kernel, bad settings), and its mapping to [`ProxyError`].
//!
//! [`NetworkProxy`]: kube_core::NetworkProxy

use std::process::ExitStatus;

use kube_core::network::ProxyError;

use crate::cidr::CidrError;

/// Errors of kube-net's data planes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command (`ip`, `iptables-restore`, `nft`) could not be started: most often it is
    /// not installed.
    #[error("cannot run {command}: {source}")]
    Spawn {
        /// The program.
        command: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("{command} failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// How it exited.
        status: ExitStatus,
        /// What it wrote to standard error.
        stderr: String,
    },
    /// The kernel refused for lack of privileges (CAP_NET_ADMIN, usually root).
    #[error("{command}: permission denied (needs CAP_NET_ADMIN, usually root): {stderr}")]
    PermissionDenied {
        /// The command line.
        command: String,
        /// What it wrote to standard error.
        stderr: String,
    },
    /// Rules were refused (by the kernel's model in tests, or a program's own checks).
    #[error("rules refused: {message}")]
    Rejected {
        /// Why.
        message: String,
    },
    /// A setting is not valid.
    #[error(transparent)]
    Cidr(#[from] CidrError),
    /// The data plane was shut down and cannot be synced any more.
    #[error("the data plane was shut down")]
    ShutDown,
}

/// `Result` with kube-net's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the failure is a lack of privileges.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, Self::PermissionDenied { .. })
    }
}

impl From<Error> for ProxyError {
    fn from(err: Error) -> Self {
        ProxyError::Apply {
            message: err.to_string(),
            source: Some(Box::new(err)),
        }
    }
}
