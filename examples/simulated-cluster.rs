//! A simulated cluster of thousands of nodes in one process, filled with pods, with a
//! report of how fast and how well it went.
//!
//! What it shows: a [`ControlPlane`] (the API server over the in-memory store, the
//! scheduler and the controller manager) and `--nodes` real node agents on
//! `SimRuntime` (each registers its Node, renews its Lease, reports node status and runs
//! its pods through the pod workers, writing `pods/status`). The pods are created through
//! the API server, scheduled by the scheduler's loop and bound through `pods/binding`,
//! like in a real cluster; only the containers are simulated.
//!
//! ```text
//! cargo run --release --example simulated-cluster -- --nodes 1000 --pods 30000
//! cargo run --release --example simulated-cluster -- --nodes 5000 --pods 150000 \
//!     --deployment-share 0.5 --spread-share 0.1 --churn 100 --churn-seconds 20
//! ```
//!
//! While it fills the cluster a progress line on stderr shows how many pods are created,
//! scheduled and Running. At the end it prints the rates, the API latency percentiles by
//! verb (the API server's `apiserver_request_duration_seconds`, as Kubernetes' SLO
//! measures them, and the load generator's own calls measured at the client), the pod
//! startup latency percentiles (creation to Running observed through a watch, Kubernetes'
//! pod startup SLO; there is no image pull to exclude), peak RSS and memory per node and
//! per pod.

#![allow(
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss,
    clippy::exit
)]

#[path = "simulated_cluster/load.rs"]
mod load;
#[path = "simulated_cluster/observer.rs"]
mod observer;
#[path = "simulated_cluster/report.rs"]
mod report;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt as _;
use kube_sdk::api::server::ratelimit::RateLimitConfig;
use kube_sdk::api::server::stack::AuthorizationMode;
use kube_sdk::api::server::{ApiServerConfig, ServiceRanges};
use kube_sdk::ctrl::controllers::{ControllersConfig, NodeIpamConfig};
use kube_sdk::node::{KubeletConfig, SimRuntime};
use kube_sdk::{ControlPlane, NodeAgent, RunningNodeAgent};

/// A simulated cluster: a control plane and many simulated nodes in one process.
#[derive(Debug, Clone, Parser)]
#[command(name = "simulated-cluster", version)]
pub(crate) struct Args {
    /// How many node agents run.
    #[arg(long, default_value_t = 100)]
    pub(crate) nodes: usize,
    /// How many pods the cluster is filled with.
    #[arg(long, default_value_t = 3000)]
    pub(crate) pods: usize,
    /// The share of the pods that Deployments own (the rest are bare pods).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) deployment_share: f64,
    /// Replicas per Deployment.
    #[arg(long, default_value_t = 100)]
    pub(crate) replicas: usize,
    /// The share of the bare pods with a topology spread constraint over zones.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) spread_share: f64,
    /// The share of the bare pods with a required anti-affinity to their group (one per
    /// node), in groups of `--anti-affinity-group` pods.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) anti_affinity_share: f64,
    /// Pods per anti-affinity group (at most the number of nodes).
    #[arg(long, default_value_t = 10)]
    pub(crate) anti_affinity_group: usize,
    /// After the fill: bare pods deleted and as many created, per second.
    #[arg(long, default_value_t = 0)]
    pub(crate) churn: usize,
    /// How long the churn lasts, in seconds.
    #[arg(long, default_value_t = 10)]
    pub(crate) churn_seconds: u64,
    /// Pod creations in flight at once.
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
    /// Pod creations per second during the fill (0: as fast as `--concurrency` allows).
    /// Kubernetes' density test measures throughput by filling as fast as it can, and
    /// pod startup latency at a rate the cluster sustains: the two are separate runs.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) rate: f64,
    /// Node agents started at once.
    #[arg(long, default_value_t = 64)]
    pub(crate) node_concurrency: usize,
    /// Worker threads of the node agents' own runtime (0: the node agents share the
    /// control plane's runtime).
    #[arg(long, default_value_t = 2)]
    pub(crate) node_threads: usize,
    /// Let the kernel back the heap with transparent huge pages (off by default: see
    /// `no_huge_pages`).
    #[arg(long)]
    pub(crate) huge_pages: bool,
    /// The most pods one node runs.
    #[arg(long, default_value_t = 110)]
    pub(crate) max_pods: u32,
    /// Serve HTTPS on this address and create the pods over it (the node agents and the
    /// components stay in process).
    #[arg(long)]
    pub(crate) https: Option<SocketAddr>,
    /// Events a watcher may fall behind before the API server cuts it off (Kubernetes
    /// sizes its watch cache with the cluster too).
    #[arg(long, default_value_t = 65_536)]
    pub(crate) watch_capacity: usize,
    /// Events each resource's watch cache keeps to resume watches from.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) watch_history: usize,
    /// Stops the run when the resident memory passes this many MiB (0: never).
    #[arg(long, default_value_t = 12 * 1024)]
    pub(crate) max_rss_mib: u64,
    /// Gives up when the cluster is not filled after this many seconds.
    #[arg(long, default_value_t = 900)]
    pub(crate) timeout: u64,
    /// Log level (error, warn, info, debug) or a tracing filter.
    /// (the controllers' optimistic-concurrency retries are logged at warn; they are
    /// quiet by default).
    #[arg(long, default_value = "warn,kube_ctrl::runtime=error")]
    pub(crate) log: String,
}

/// The process's resident memory: now (`VmRSS`) and its peak (`VmHWM`), in KiB.
pub(crate) fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The kubelet settings of a simulated node in a large cluster: no Events, no log
/// endpoint, node status reported on change and every 5 minutes (Kubernetes' defaults
/// for the Lease and the status), pod resync every 10 s.
fn kubelet_config(name: String, max_pods: u32) -> KubeletConfig {
    let capacity = [
        ("cpu", "64".to_owned()),
        ("memory", "256Gi".to_owned()),
        ("pods", max_pods.to_string()),
        ("ephemeral-storage", "1Ti".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.parse().expect("a valid quantity")))
    .collect();
    let index: usize = name
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    KubeletConfig {
        node_name: name.clone(),
        hostname: name,
        capacity: Some(capacity),
        max_pods,
        server: None,
        record_events: false,
        sync_period: Duration::from_secs(10),
        node_labels: [(
            "topology.kubernetes.io/zone".to_owned(),
            format!("zone-{}", index % 3),
        )]
        .into_iter()
        .collect(),
        ..KubeletConfig::default()
    }
}

/// The process allocator. glibc's malloc, under this load (hundreds of thousands of
/// short-lived buffers a second across the runtime's threads), kept handing pages back
/// to the kernel and faulting them in again: a profile of the 150,000-pod fill had a
/// fifth of the CPU in the kernel zeroing pages and another tenth in malloc and free.
/// An allocator is the binary's choice, not the library's: this one is the example's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process. The allocator asks for them, and on
/// a virtual machine a huge page's first touch can cost far more than its 512 small
/// pages: on the 2-core VM of the README's figures, touching 7 GiB took 3.7 s in 4 KiB
/// pages and 7.8-11.1 s in huge pages, and the 150,000-pod fill spent 35-41 s of system
/// time (a quarter of its CPU) against 9-10 s without them. The heap is filled once and
/// kept, so the TLB gain of huge pages does not pay that back here; `--huge-pages` turns
/// them back on.
#[allow(unsafe_code)]
fn no_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and no pointers; it only changes
    // how this process's later page faults are served.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc != 0 {
        eprintln!(
            "simulated-cluster: transparent huge pages stay on: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// The control plane runs on the main runtime, the node agents on one of their own (with
/// `--node-threads`), as in a real cluster, where kubelets are other machines: sharing
/// one runtime's run queues, the control plane's informers and the node agents' lease
/// renewals waited behind thousands of pod workers, the node lifecycle controller saw
/// leases over 40 s old and marked healthy nodes NotReady in some unpaced fills.
fn main() -> ExitCode {
    let args = Args::parse();
    if !args.huge_pages {
        no_huge_pages();
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .init();
    let runtimes = tokio::runtime::Runtime::new().and_then(|main| {
        let nodes = (args.node_threads > 0)
            .then(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(args.node_threads)
                    .thread_name("node-agents")
                    .enable_all()
                    .build()
            })
            .transpose()?;
        Ok((main, nodes))
    });
    let (main, nodes) = match runtimes {
        Ok(runtimes) => runtimes,
        Err(e) => {
            eprintln!("simulated-cluster: cannot start the runtimes: {e}");
            return ExitCode::FAILURE;
        }
    };
    let node_runtime = nodes.as_ref().map(|rt| rt.handle().clone());
    let result = main.block_on(run(args, node_runtime));
    if let Some(nodes) = nodes {
        nodes.shutdown_timeout(Duration::from_secs(5));
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nsimulated-cluster: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    args: Args,
    node_runtime: Option<tokio::runtime::Handle>,
) -> Result<(), Box<dyn std::error::Error>> {
    let (rss_start, _) = memory_kib();
    let pki = tempfile::tempdir()?;
    // A /24 per node out of a /12: room for 4,096 nodes... and more with a /8.
    let controllers = ControllersConfig {
        node_ipam: Some(NodeIpamConfig {
            cluster_cidr: "10.0.0.0/8".to_owned(),
            ..NodeIpamConfig::default()
        }),
        ..ControllersConfig::default()
    };
    let mut builder = ControlPlane::builder()
        .api_config(ApiServerConfig {
            service_ranges: ServiceRanges::default(),
            watch_channel_capacity: args.watch_capacity,
            watch_history: args.watch_history,
            ..ApiServerConfig::default()
        })
        .controllers(controllers)
        .authorization(AuthorizationMode::Rbac)
        // Every node agent is a client: a large cluster raises the in-flight limits
        // (Kubernetes' guidance for 5,000 nodes is 3,000 in total).
        .rate_limit(RateLimitConfig {
            max_mutating_in_flight: 1000,
            max_read_only_in_flight: 2000,
            ..RateLimitConfig::default()
        });
    if let Some(addr) = args.https {
        builder = builder.pki_dir(pki.path()).listen(addr);
    }
    let cluster = builder.build().await?.start().await?;
    // The machine is shared: a run that outgrows its memory budget stops itself.
    let budget_kib = args.max_rss_mib.saturating_mul(1024);
    tokio::spawn(async move {
        loop {
            let (rss, _) = memory_kib();
            if budget_kib > 0 && rss > budget_kib {
                eprintln!(
                    "\nsimulated-cluster: RSS {} MiB passed --max-rss-mib; stopping",
                    rss / 1024
                );
                std::process::exit(3);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let admin = match cluster.kubeconfig_path() {
        Some(path) => {
            let kubeconfig = kube_sdk::api::client::Kubeconfig::read_from(path)?;
            kube_sdk::api::client::Client::try_from_kubeconfig(&kubeconfig, None)?
        }
        None => cluster.client(),
    };

    // The observer watches every pod from the start, so that no transition is missed.
    let observer = observer::Observer::start(cluster.client())
        .await?
        .with_scheduler(cluster.scheduler_stats_reader());

    eprintln!("starting {} node agents", args.nodes);
    let nodes_started = Instant::now();
    let agents: Vec<RunningNodeAgent> = futures::stream::iter(0..args.nodes)
        .map(|i| {
            let name = format!("sim-node-{i}");
            let (client, ca) = cluster.node_client(&name);
            let config = kubelet_config(name, args.max_pods);
            let start = async move {
                NodeAgent::builder()
                    .kubelet_config(config)
                    .client(client, ca)
                    .runtime(SimRuntime::new())
                    .build()?
                    .start()
                    .await
            };
            // Started on the node agents' runtime, every task of the agent runs there.
            let on = node_runtime.clone();
            async move {
                match on {
                    Some(rt) => rt.spawn(start).await.map_err(|e| {
                        kube_sdk::BuildError::Config(format!("a node agent's start failed: {e}"))
                    })?,
                    None => start.await,
                }
            }
        })
        .buffer_unordered(args.node_concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let nodes_elapsed = nodes_started.elapsed();
    let (rss_nodes, _) = memory_kib();
    eprintln!(
        "{} node agents registered in {:.1} s",
        agents.len(),
        nodes_elapsed.as_secs_f64()
    );

    let plan = load::Plan::new(&args);
    let fill = load::fill(&admin, &plan, &args, &observer).await?;
    let (rss_full, _) = memory_kib();

    let churn = if args.churn > 0 {
        Some(load::churn(&admin, &plan, &args, &observer).await?)
    } else {
        None
    };
    let (_, peak) = memory_kib();
    let metrics = report::api_metrics(&cluster.client()).await?;
    let report = report::Report {
        args: args.clone(),
        nodes_elapsed,
        fill,
        churn,
        observer: observer.snapshot(),
        scheduler: cluster.scheduler_stats(),
        server: metrics,
        memory: report::Memory {
            start_kib: rss_start,
            nodes_kib: rss_nodes,
            full_kib: rss_full,
            peak_kib: peak,
        },
    };
    println!("{report}");
    drop(agents);
    cluster.shutdown_within(Duration::from_secs(5)).await;
    Ok(())
}

/// A latency recorder: every sample kept (a few hundred thousand at most), sorted once.
#[derive(Debug, Default, Clone)]
pub(crate) struct Samples(Vec<Duration>);

impl Samples {
    pub(crate) fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The p-th percentile (0..=100), nearest rank.
    pub(crate) fn percentile(&self, sorted: &[Duration], p: f64) -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    /// p50, p90, p99 and the maximum.
    pub(crate) fn summary(&self) -> [Duration; 4] {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        [
            self.percentile(&sorted, 50.0),
            self.percentile(&sorted, 90.0),
            self.percentile(&sorted, 99.0),
            sorted.last().copied().unwrap_or_default(),
        ]
    }
}

/// Shared by the load generator and the report.
pub(crate) type Shared<T> = Arc<parking_lot::Mutex<T>>;
