//! The node agent of kube-sdk (a kubelet) and its container runtimes.
//!
//! - [`Kubelet`] registers its Node, keeps a Lease heartbeat and the node status, runs the
//!   pods bound to it (one worker per pod: sandbox, init containers in order, containers,
//!   restarts with CrashLoopBackOff back-off, exec/httpGet/tcpSocket probes), writes their
//!   status through `pods/status`, stops them gracefully on deletion, rejects pods that do
//!   not fit, serves their logs over HTTPS, and after a restart adopts the containers the
//!   runtime still runs.
//! - Runtimes, all implementing [`kube_core::Runtime`] (shaped like the CRI):
//!   [`SimRuntime`] (no processes, for simulated clusters), [`ProcessRuntime`] (host
//!   processes, with network namespaces and cgroups as root) and, with the `cri` feature,
//!   [`CriRuntime`] (containerd or CRI-O over a unix socket) and [`CriServer`] (any runtime
//!   served over the CRI).
//! - [`conformance`]: the public suite every runtime passes, yours included.
//!
//! A node on the simulator, against an in-process API server:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use kube_api::client::{Api, Client, PostParams};
//! use kube_api::server::ApiServer;
//! use kube_core::{Pod, Store};
//! use kube_node::{Kubelet, KubeletConfig, SimRuntime};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let store: Arc<dyn Store> = Arc::new(kube_store::MemoryStore::new());
//! let client = Client::new(ApiServer::builder(store).build().await?, "default");
//! let node = Kubelet::builder(client.clone(), SimRuntime::new())
//!     .config(KubeletConfig {
//!         node_name: "sim-1".into(),
//!         server: None, // no HTTPS log endpoint for this example
//!         sync_period: Duration::from_millis(50),
//!         ..KubeletConfig::default()
//!     })
//!     .build()
//!     .start()
//!     .await?;
//!
//! let pods: Api<Pod> = Api::default_namespaced(client);
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web"},
//!     "spec": {"nodeName": "sim-1", "containers": [{"name": "app", "image": "nginx:1.27"}]}
//! }))?;
//! pods.create(&PostParams::default(), &pod).await?;
//! while !pods.get("web").await?.is_ready() {
//!     tokio::time::sleep(Duration::from_millis(20)).await;
//! }
//! node.shutdown().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![warn(missing_docs)]

pub mod conformance;
#[cfg(feature = "cri")]
pub mod cri;
pub mod kubelet;
pub mod logs;
pub mod process;
pub mod sim;

#[cfg(feature = "cri")]
pub use cri::{CriRuntime, CriServer};
pub use kubelet::{Kubelet, KubeletBuilder, KubeletConfig, RunningKubelet};
pub use process::{CatalogImage, DEFAULT_PATH, ImageCatalog, ProcessRuntime, ProcessRuntimeConfig};
pub use sim::{
    Faults, SIM_EXEC_EXIT_CODE, SIM_EXIT_CODE, SIM_IGNORE_TERM, SIM_OUTPUT, SIM_RUN_MILLIS,
    SimConfig, SimOp, SimProgram, SimRuntime,
};
