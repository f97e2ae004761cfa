//! The reference cluster: a whole Kubernetes-compatible cluster in one process.
//!
//! What it shows: [`ControlPlane::builder`] assembling the API server over a store and
//! serving it over HTTPS with a generated PKI, RBAC and an admin kubeconfig that `kubectl`
//! uses as it is.
//!
//! Run it (the state is in memory unless `--data-dir` or `--etcd` is given):
//!
//! ```text
//! cargo run --release --example reference-cluster
//! export KUBECONFIG=$PWD/.data/pki/admin.kubeconfig
//! kubectl get namespaces
//! ```
//!
//! Flags: `--listen 127.0.0.1:6443`, `--data-dir DIR` (durable embedded store),
//! `--etcd URL` (a real etcd; needs `--features etcd`), `--pki-dir DIR`, `--log LEVEL`.
//! Ctrl-C shuts everything down cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kube_sdk::{ControlPlane, StoreChoice};

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
    /// Where the CA, certificates and the admin kubeconfig are kept.
    #[arg(long, default_value = ".data/pki")]
    pki_dir: PathBuf,
    /// Log level (error, warn, info, debug, trace) or a tracing filter.
    #[arg(long, default_value = "info")]
    log: String,
}

fn store_choice(args: &Args) -> Result<StoreChoice, String> {
    if let Some(dir) = &args.data_dir {
        return Ok(StoreChoice::Durable(dir.clone()));
    }
    match &args.etcd {
        None => Ok(StoreChoice::Memory),
        #[cfg(feature = "etcd")]
        Some(urls) => Ok(StoreChoice::Etcd(Box::new(
            kube_sdk::store::EtcdConfig::new(urls.split(',').map(str::trim)),
        ))),
        #[cfg(not(feature = "etcd"))]
        Some(_) => Err("--etcd needs the `etcd` feature: cargo run --features etcd ...".into()),
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let store = store_choice(&args)?;
    let cluster = ControlPlane::builder()
        .store(store)
        .listen(args.listen)
        .pki_dir(&args.pki_dir)
        .build()
        .await?
        .start()
        .await?;
    let kubeconfig = cluster
        .kubeconfig_path()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_owned()));
    tracing::info!(url = cluster.url(), "the cluster is up");
    if let Some(path) = kubeconfig {
        tracing::info!("point kubectl at it: export KUBECONFIG={}", path.display());
    }
    tokio::signal::ctrl_c().await?;
    tracing::info!("shutting down");
    cluster.shutdown().await;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = e.to_string();
            let mut source = e.source();
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}
