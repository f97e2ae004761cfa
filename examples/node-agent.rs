//! A node of the cluster as a process of its own, joining a control plane over HTTPS.
//!
//! What it shows: [`NodeAgent::builder`] reaching the API server through a kubeconfig (a
//! node client certificate the `control-plane` example writes), with a container runtime
//! (real host processes, or the simulator) and a service proxy data plane (userspace,
//! iptables, nftables, or none), registering the Node with its capacity, labels and taints.
//! Ctrl-C (SIGINT) or SIGTERM stops the pods gracefully, then the agent; with `--keep-pods`
//! the containers keep running and the next agent on the same `--state-dir` adopts them.
//!
//! Run it (after the `control-plane` example wrote the kubeconfig):
//!
//! ```text
//! cargo run --example node-agent -- --kubeconfig .data/pki/node-1.kubeconfig --node-name node-1
//! ```
//!
//! Flags: `--runtime process|sim`, `--proxy userspace|iptables|nftables|none` (the kernel
//! data planes need root), `--capacity cpu=4,memory=8Gi,pods=110`, `--label k=v` and
//! `--taint key[=value]:Effect` (repeatable), `--state-dir DIR` (runtime state),
//! `--log-dir DIR` (container logs), `--listen ADDR` (the log endpoint), `--node-ip IP`,
//! `--pod-network` (a network namespace and IP per pod; root), `--grace SECONDS`,
//! `--eviction-disk-available FRACTION`,
//! `--keep-pods`, `--log LEVEL`.

#[path = "shared/process.rs"]
mod process;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use kube_sdk::NodeAgent;
use kube_sdk::core::{Quantity, ResourceList, Taint, TaintEffect};
use kube_sdk::net::{
    IptablesConfig, IptablesProxy, NftablesConfig, NftablesProxy, UserspaceConfig, UserspaceProxy,
};
use kube_sdk::node::{KubeletConfig, ProcessRuntime, ProcessRuntimeConfig, SimRuntime};

/// Which container runtime runs the pods.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum RuntimeKind {
    /// Containers are host processes.
    Process,
    /// Simulated containers: nothing runs (tests, demos, scale).
    Sim,
}

/// Which data plane the service proxy programs.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ProxyKind {
    /// Listeners in this process (ClusterIPs become local addresses as root).
    Userspace,
    /// iptables rules (root).
    Iptables,
    /// nftables rules (root).
    Nftables,
    /// No service proxy.
    None,
}

/// A node agent joining a cluster through a kubeconfig.
#[derive(Debug, Parser)]
#[command(name = "node-agent", version)]
struct Args {
    /// The kubeconfig naming the API server and this node's credentials.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// The node's name (default: the machine's host name).
    #[arg(long)]
    node_name: Option<String>,
    /// The container runtime.
    #[arg(long, value_enum, default_value = "process")]
    runtime: RuntimeKind,
    /// The service proxy's data plane.
    #[arg(long, value_enum, default_value = "userspace")]
    proxy: ProxyKind,
    /// The node's capacity, `name=quantity` pairs (default: read from the machine).
    #[arg(long, value_parser = parse_capacity)]
    capacity: Option<ResourceList>,
    /// A label the Node registers with, `key=value` (repeatable).
    #[arg(long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// A taint the Node registers with, `key[=value]:Effect` (repeatable).
    #[arg(long = "taint", value_parser = parse_taint)]
    taints: Vec<Taint>,
    /// Where the runtime keeps its state (the process runtime's containers).
    #[arg(long, default_value = ".data/node")]
    state_dir: PathBuf,
    /// Where container logs are written (default: `logs` in the state directory).
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// Where the node's log endpoint listens (port 0 picks one).
    #[arg(long, default_value = "0.0.0.0:10250")]
    listen: SocketAddr,
    /// The node's InternalIP.
    #[arg(long)]
    node_ip: Option<IpAddr>,
    /// Give each pod its own network namespace and IP (process runtime, root).
    #[arg(long)]
    pod_network: bool,
    /// Seconds pods get to stop when the agent shuts down.
    #[arg(long, default_value_t = 10)]
    grace: u64,
    /// On shutdown, leave the containers running for the next agent to adopt.
    #[arg(long)]
    keep_pods: bool,
    /// Report DiskPressure (and get tainted) below this fraction of free disk, as the
    /// kubelet's `--eviction-hard=nodefs.available<10%` (0 turns it off).
    #[arg(long, default_value_t = 0.10)]
    eviction_disk_available: f64,
    /// Log level (error, warn, info, debug, trace) or a tracing filter.
    #[arg(long, default_value = "info")]
    log: String,
}

fn parse_capacity(text: &str) -> Result<ResourceList, String> {
    text.split(',')
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .ok_or(format!("{pair:?} is not name=quantity"))?;
            let quantity: Quantity = value.parse().map_err(|e| format!("{name}: {e}"))?;
            Ok((name.trim().to_owned(), quantity))
        })
        .collect()
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or(format!("{text:?} is not key=value"))?;
    Ok((key.to_owned(), value.to_owned()))
}

fn parse_taint(text: &str) -> Result<Taint, String> {
    let (key_value, effect) = text
        .rsplit_once(':')
        .ok_or(format!("{text:?} is not key[=value]:Effect"))?;
    let effect = match effect {
        "NoSchedule" => TaintEffect::NoSchedule,
        "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
        "NoExecute" => TaintEffect::NoExecute,
        other => return Err(format!("unknown taint effect {other:?}")),
    };
    let (key, value) = match key_value.split_once('=') {
        Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
        None => (key_value.to_owned(), None),
    };
    Ok(Taint {
        key,
        value,
        effect,
        time_added: None,
    })
}

/// The machine's host name, the default node name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_lowercase())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let node_name = args.node_name.clone().unwrap_or_else(hostname);
    let kubelet = KubeletConfig {
        eviction_disk_available_fraction: args.eviction_disk_available,
        ..KubeletConfig::default()
    };
    let mut agent = NodeAgent::builder()
        .kubelet_config(kubelet)
        .kubeconfig(&args.kubeconfig)
        .node_name(&node_name)
        .server_addr(args.listen)
        .log_dir(
            args.log_dir
                .clone()
                .unwrap_or_else(|| args.state_dir.join("logs")),
        )
        .labels(args.labels.iter().cloned().collect::<BTreeMap<_, _>>())
        .taints(args.taints.iter().cloned());
    if let Some(capacity) = &args.capacity {
        agent = agent.capacity(capacity.clone());
    }
    if let Some(ip) = args.node_ip {
        agent = agent.node_ip(ip);
    }
    agent = match args.runtime {
        RuntimeKind::Sim => agent.runtime(SimRuntime::new()),
        RuntimeKind::Process => {
            let mut config = ProcessRuntimeConfig::new(args.state_dir.join("state"));
            config.pod_network = args.pod_network;
            agent.runtime(ProcessRuntime::new(config)?)
        }
    };
    agent = match args.proxy {
        ProxyKind::Userspace => {
            agent.userspace_proxy(UserspaceProxy::new(UserspaceConfig::default()))
        }
        ProxyKind::Iptables => agent.proxy(IptablesProxy::new(IptablesConfig::default())),
        ProxyKind::Nftables => agent.proxy(NftablesProxy::new(NftablesConfig::default())),
        ProxyKind::None => agent,
    };
    let node = agent.build()?.start().await?;
    tracing::info!(node = %node_name, log_endpoint = ?node.server_addr(), "the node agent is running");

    process::wait_for_signal().await?;
    if args.keep_pods {
        tracing::info!("shutting down; the containers keep running for the next agent");
        node.shutdown().await;
    } else {
        tracing::info!(
            grace_seconds = args.grace,
            "shutting down; stopping the pods"
        );
        node.shutdown_and_stop_pods(Duration::from_secs(args.grace))
            .await;
    }
    tracing::info!("stopped");
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let log = args.log.clone();
    process::run_main(&log, run(args))
}
