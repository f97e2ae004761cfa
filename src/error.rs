//! Why a control plane or a node agent could not be built or started.

/// Why [`ControlPlaneBuilder::build`](crate::ControlPlaneBuilder::build) or
/// [`ControlPlane::start`](crate::ControlPlane::start) failed.
///
/// Every wrong combination of settings is one of these at `build()`, never a panic later.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The settings do not fit together; the message says which and why.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The durable store's data directory could not be used.
    #[error("opening the durable store")]
    DataDir(#[from] kube_store::OpenError),
    /// etcd could not be reached.
    #[cfg(feature = "etcd")]
    #[error("connecting to etcd at {endpoints}")]
    Etcd {
        /// The endpoints tried.
        endpoints: String,
        /// What the store said.
        #[source]
        source: kube_core::StoreError,
    },
    /// The API server could not start over the store.
    #[error("starting the API server")]
    ApiServer(#[source] kube_core::Error),
    /// The PKI, token file, TLS or RBAC setup of the served API failed.
    #[error("setting up the served API")]
    Stack(#[from] kube_api::server::stack::StackError),
    /// The kubeconfig could not be read or does not name a usable cluster and user.
    #[error("using the kubeconfig {}", .path.display())]
    Kubeconfig {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong.
        #[source]
        source: kube_api::client::ClientError,
    },
    /// The node agent could not start (its runtime, its server, or its registration).
    #[error("starting the node agent of {node}")]
    Kubelet {
        /// The node.
        node: String,
        /// What failed.
        #[source]
        source: kube_node::kubelet::Error,
    },
    /// A node's container runtime could not be set up.
    #[error("setting up the container runtime of {node}")]
    Runtime {
        /// The node.
        node: String,
        /// What the runtime said.
        #[source]
        source: kube_core::RuntimeError,
    },
    /// The Kubernetes controllers could not be set up.
    #[error("setting up the controller manager")]
    Controllers(#[source] kube_ctrl::Error),
    /// The metrics endpoint's address could not be bound (in use, or not this host's).
    #[error("serving metrics on {addr}")]
    Metrics {
        /// The address.
        addr: std::net::SocketAddr,
        /// What the socket said.
        #[source]
        source: std::io::Error,
    },
    /// A background task could not run.
    #[error("a start-up task failed: {0}")]
    Task(String),
}
