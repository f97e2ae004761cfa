//! The control plane as a process of its own, for a cluster whose nodes run elsewhere.
//!
//! What it shows: [`ControlPlane::builder`] with a chosen store, serving HTTPS with a PKI
//! kept in a directory (created on first start, reused after), RBAC, the scheduler and the
//! built-in controllers. It writes the admin kubeconfig for `kubectl` and, for each node
//! named with `--node`, a kubeconfig holding a client certificate for
//! `system:node:<name>` in the group `system:nodes`, which a ClusterRole it creates lets
//! do what a node agent does. Then it says how to start each node (`node-agent` example).
//!
//! Run it:
//!
//! ```text
//! cargo run --example control-plane -- --pki-dir .data/pki --node node-1
//! # elsewhere (copy .data/pki/node-1.kubeconfig there; serve on an address the node
//! # reaches with --listen 0.0.0.0:6443 --host <that address>):
//! cargo run --example node-agent -- --kubeconfig .data/pki/node-1.kubeconfig --node-name node-1
//! export KUBECONFIG=$PWD/.data/pki/admin.kubeconfig; kubectl get nodes
//! ```
//!
//! Flags: `--listen ADDR` (HTTPS, default `127.0.0.1:6443`), `--pki-dir DIR`, `--host NAME`
//! (repeatable: more names and addresses for the serving certificate), `--advertise HOST`
//! (what node kubeconfigs point at), `--data-dir DIR` (durable embedded store) or
//! `--etcd URLS` (needs `--features etcd`; memory otherwise), `--node NAME` (repeatable),
//! `--log LEVEL`. Ctrl-C (SIGINT) or SIGTERM stops it cleanly.

#[path = "shared/process.rs"]
mod process;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use kube_sdk::api::server::pki::{Pki, PkiConfig};
use kube_sdk::core::{ClusterRole, ClusterRoleBinding};
use kube_sdk::prelude::*;

/// The control plane of a cluster whose nodes connect over HTTPS.
#[derive(Debug, Parser)]
#[command(name = "control-plane", version)]
struct Args {
    /// Address the API server serves HTTPS on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Where the CA, the certificates and the kubeconfigs are kept.
    #[arg(long, default_value = ".data/pki")]
    pki_dir: PathBuf,
    /// More host names or addresses the serving certificate is valid for.
    #[arg(long = "host")]
    hosts: Vec<String>,
    /// The host name or address node kubeconfigs point at (default: the first --host, or
    /// the listen address, or 127.0.0.1 when listening on all addresses).
    #[arg(long)]
    advertise: Option<String>,
    /// Keep the cluster state in a durable embedded store in this directory.
    #[arg(long, conflicts_with = "etcd")]
    data_dir: Option<PathBuf>,
    /// Keep the cluster state in etcd at these URLs (comma-separated).
    #[arg(long)]
    etcd: Option<String>,
    /// Write a kubeconfig for a node of this name (repeatable).
    #[arg(long = "node")]
    nodes: Vec<String>,
    /// Log level (error, warn, info, debug, trace) or a tracing filter.
    #[arg(long, default_value = "info")]
    log: String,
}

/// The server URL node kubeconfigs name.
fn advertised_url(args: &Args, port: u16) -> String {
    let host = match (&args.advertise, args.hosts.first()) {
        (Some(host), _) => host.clone(),
        (None, _) if !args.listen.ip().is_unspecified() => args.listen.ip().to_string(),
        (None, Some(host)) => host.clone(),
        (None, None) => "127.0.0.1".to_owned(),
    };
    match host.parse::<IpAddr>() {
        Ok(ip) => format!("https://{}", SocketAddr::new(ip, port)),
        Err(_) => format!("https://{host}:{port}"),
    }
}

/// What a node agent does through the API (as Kubernetes' `system:node` and
/// `system:node-proxier` roles allow), bound to the group of node certificates.
async fn grant_nodes(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| serde_json::json!({"apiGroups": groups, "resources": resources, "verbs": verbs});
    let read = ["get", "list", "watch"];
    let role: ClusterRole = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "kube-sdk:node"},
        "rules": [
            rule(&[""], &["nodes"], &["get", "list", "watch", "create", "update", "patch", "delete"]),
            rule(&[""], &["nodes/status", "pods/status"], &["get", "update", "patch"]),
            rule(&[""], &["pods"], &["get", "list", "watch", "create", "delete"]),
            rule(&[""], &["pods/eviction"], &["create"]),
            rule(&[""], &["events"], &["create", "update", "patch"]),
            rule(&[""], &["services", "endpoints", "configmaps", "secrets"], &read),
            rule(&["discovery.k8s.io"], &["endpointslices"], &read),
            rule(&["coordination.k8s.io"], &["leases"], &["get", "list", "watch", "create", "update", "patch", "delete"]),
        ],
    }))?;
    let binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "kube-sdk:node"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kube-sdk:node"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}],
    }))?;
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    // A restart over a durable store finds them there already: replace to keep them current.
    match roles.get_opt("kube-sdk:node").await? {
        None => drop(roles.create(&PostParams::default(), &role).await?),
        Some(old) => {
            let role = ClusterRole {
                metadata: old.metadata,
                ..role
            };
            drop(
                roles
                    .replace("kube-sdk:node", &PostParams::default(), &role)
                    .await?,
            );
        }
    }
    if bindings.get_opt("kube-sdk:node").await?.is_none() {
        bindings.create(&PostParams::default(), &binding).await?;
    }
    Ok(())
}

/// Issues each node a client certificate and writes its kubeconfig next to the PKI.
fn write_node_kubeconfigs(
    pki_config: &PkiConfig,
    url: &str,
    nodes: &[String],
) -> Result<Vec<PathBuf>, Box<dyn std::error::Error + Send + Sync>> {
    // The same directory and hosts as the served stack: nothing is reissued.
    let pki = Pki::load_or_create(pki_config)?;
    let mut written = Vec::new();
    for node in nodes {
        let user = format!("system:node:{node}");
        let credentials = pki.issue_client_certificate(&user, Some("system:nodes"))?;
        let path = pki_config.dir.join(format!("{node}.kubeconfig"));
        write_private(
            &path,
            pki.kubeconfig(url, &user, &credentials)
                .to_yaml()?
                .as_bytes(),
        )?;
        written.push(path);
    }
    Ok(written)
}

/// Writes a file only its owner may read: it holds a private key.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let cluster = ControlPlane::builder()
        .store(StoreChoice::from_options(
            args.data_dir.clone(),
            args.etcd.as_deref(),
        )?)
        .listen(args.listen)
        .pki_dir(&args.pki_dir)
        .hosts(args.hosts.iter().cloned())
        .build()
        .await?
        .start()
        .await?;
    let port = cluster
        .https_addr()
        .map_or(args.listen.port(), |a| a.port());
    tracing::info!(url = cluster.url(), "serving the API");
    grant_nodes(&cluster.client()).await?;

    let url = advertised_url(&args, port);
    let pki_config = PkiConfig::new(&args.pki_dir).hosts(args.hosts.iter().cloned());
    let nodes = args.nodes.clone();
    let written = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || write_node_kubeconfigs(&pki_config, &url, &nodes))
            .await?
    }
    .map_err(|e| e as Box<dyn std::error::Error>)?;
    if let Some(admin) = cluster.kubeconfig_path() {
        tracing::info!(
            "point kubectl at it: export KUBECONFIG={}",
            std::path::absolute(admin)?.display()
        );
    }
    for (node, path) in args.nodes.iter().zip(&written) {
        tracing::info!(
            "start node {node} (on the machine it runs on, with this file copied there): \
             cargo run --example node-agent -- --kubeconfig {} --node-name {node}",
            std::path::absolute(path)?.display()
        );
    }
    tracing::info!(advertised = %url, "the control plane is ready");

    process::wait_for_signal().await?;
    tracing::info!("shutting down");
    cluster.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let log = args.log.clone();
    process::run_main(&log, run(args))
}
