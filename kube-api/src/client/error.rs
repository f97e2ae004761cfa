//! [`ClientError`]: why a client could not be built from a kubeconfig or a configuration.

use std::path::PathBuf;

/// Why a [`Client`](super::Client) could not be configured. Failures of API calls are
/// [`kube_core::Error`]s instead.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Neither `KUBECONFIG` nor `HOME` is set, so there is no kubeconfig to read.
    #[error("no kubeconfig: set KUBECONFIG or HOME")]
    NoKubeconfig,
    /// A file the configuration names could not be read.
    #[error("cannot read the {what} file {}", .path.display())]
    ReadFile {
        /// What the file holds (`kubeconfig`, `client key`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig is not valid YAML of the expected shape.
    #[error("invalid kubeconfig{}", .path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    KubeconfigParse {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The YAML error.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// The kubeconfig names no current context and none was given.
    #[error("kubeconfig has no current context")]
    NoCurrentContext,
    /// A context, cluster or user named in the kubeconfig does not exist.
    #[error("kubeconfig has no {what} named {name:?}")]
    UnknownName {
        /// `context`, `cluster` or `user`.
        what: &'static str,
        /// The missing name.
        name: String,
    },
    /// The server URL cannot be used.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidServer {
        /// The URL as written.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Base64 data in the kubeconfig does not decode.
    #[error("invalid base64 in {field}")]
    Base64 {
        /// The kubeconfig field.
        field: &'static str,
        /// The decoding error.
        #[source]
        source: base64::DecodeError,
    },
    /// PEM data holds no usable certificate or key.
    #[error("invalid PEM in {what}: {reason}")]
    Pem {
        /// What the PEM should hold.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A credential form this client does not support (basic auth, exec plugins).
    #[error("unsupported credentials: {0}")]
    Unsupported(String),
    /// The TLS configuration was rejected (a bad key, an unusable certificate).
    #[error("invalid TLS configuration")]
    Tls(#[source] rustls::Error),
}
