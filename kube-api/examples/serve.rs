//! Serves the API server over HTTPS for real clients: an in-memory store inside the full
//! stack (TLS, client certificates, RBAC, rate limits), with the PKI and an admin
//! kubeconfig in a directory.
//!
//! ```text
//! cargo run -p kube-api --example serve -- --dir ./cluster --addr 127.0.0.1:6443
//! kubectl --kubeconfig ./cluster/admin.kubeconfig get namespaces
//! ```
//!
//! `--addr` defaults to `127.0.0.1:0` (a free port); the URL and the kubeconfig path are
//! logged at start. Stops on Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use kube_api::server::ApiServer;
use kube_api::server::stack::StackBuilder;
use kube_core::Store;
use kube_store::MemoryStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut dir = PathBuf::from("kube-sdk-cluster");
    let mut addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = args.next().ok_or("--dir needs a value")?.into(),
            "--addr" => addr = args.next().ok_or("--addr needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let api = ApiServer::builder(store).build().await?;
    let stack = StackBuilder::new(api)
        .pki_dir(&dir)
        .kubeconfig_path(dir.join("admin.kubeconfig"))
        .build()
        .await?;
    let server = stack.serve(addr).await?;
    tracing::info!(
        url = server.url(),
        kubeconfig = %dir.join("admin.kubeconfig").display(),
        "serving; stop with Ctrl-C"
    );
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
