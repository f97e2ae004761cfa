//! The reference cluster: a whole Kubernetes-compatible cluster in one process.
//!
//! What it shows: [`ReferenceCluster`] assembling a control plane (the API server over a
//! store, served over HTTPS with a generated PKI, RBAC and an admin kubeconfig that
//! `kubectl` uses as it is; the scheduler; the controller manager) and node agents whose
//! containers are real host processes, with the userspace service proxy. As root each pod
//! gets its own network namespace and IP, and Services answer on their ClusterIPs.
//!
//! Run it (the state is in memory unless `--data-dir` or `--etcd` is given):
//!
//! ```text
//! cargo run --release --example reference-cluster
//! export KUBECONFIG=$PWD/.data/pki/admin.kubeconfig
//! kubectl get namespaces
//! ```
//!
//! Flags: `--listen 127.0.0.1:6443`, `--nodes 2`, `--data-dir DIR` (durable embedded
//! store), `--etcd URL` (a real etcd; needs `--features etcd`), `--state-dir .data` (PKI,
//! node state, container logs), `--metrics 127.0.0.1:10257` (scheduler and controller
//! metrics, health), `--eviction-disk-available 0.10` (0: no DiskPressure on a full
//! disk), `--log LEVEL`. Ctrl-C stops the pods gracefully, then
//! everything else.

#[path = "shared/process.rs"]
mod process;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kube_sdk::{ReferenceCluster, ReferenceClusterConfig, StoreChoice};

/// A Kubernetes-compatible cluster in one process.
#[derive(Debug, Parser)]
#[command(name = "reference-cluster", version)]
struct Args {
    /// Address the API server serves HTTPS on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Keep the cluster state in a durable embedded store in this directory.
    #[arg(long, conflicts_with = "etcd")]
    data_dir: Option<PathBuf>,
    /// Keep the cluster state in etcd at this URL (comma-separated for several).
    #[arg(long)]
    etcd: Option<String>,
    /// Where the PKI (and the admin kubeconfig), the nodes' state and the container logs
    /// are kept.
    #[arg(long, default_value = ".data")]
    state_dir: PathBuf,
    /// How many node agents run.
    #[arg(long, default_value_t = 2)]
    nodes: usize,
    /// Address of the scheduler's and controllers' metrics endpoint (`/metrics`,
    /// `/healthz`, `/readyz`); the API server's `/metrics` is on its own port.
    #[arg(long, default_value = "127.0.0.1:10257")]
    metrics: SocketAddr,
    /// Free disk fraction below which nodes report DiskPressure and take no new pods, as
    /// the kubelet's `nodefs.available<10%`; 0 turns the check off.
    #[arg(long, default_value_t = 0.10)]
    eviction_disk_available: f64,
    /// Log level (error, warn, info, debug, trace) or a tracing filter.
    #[arg(long, default_value = "info")]
    log: String,
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = ReferenceClusterConfig {
        store: StoreChoice::from_options(args.data_dir.clone(), args.etcd.as_deref())?,
        listen: args.listen,
        state_dir: args.state_dir,
        nodes: args.nodes,
        eviction_disk_available_fraction: args.eviction_disk_available,
        ..ReferenceClusterConfig::default()
    };
    let metrics = args.metrics;
    let cluster =
        ReferenceCluster::start(config, |builder| builder.metrics_listen(metrics)).await?;
    let kubeconfig = cluster
        .control_plane()
        .kubeconfig_path()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_owned()));
    tracing::info!(
        url = cluster.control_plane().url(),
        nodes = cluster.nodes().len(),
        metrics = ?cluster.control_plane().metrics_addr(),
        "the cluster is up"
    );
    if let Some(path) = kubeconfig {
        tracing::info!("point kubectl at it: export KUBECONFIG={}", path.display());
    }
    process::wait_for_signal().await?;
    tracing::info!("shutting down");
    cluster.shutdown().await;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let log = args.log.clone();
    process::run_main(&log, run(args))
}
