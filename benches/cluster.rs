//! The whole cluster under criterion: a control plane (API server on `MemoryStore`,
//! scheduler, controllers) and simulated node agents on `SimRuntime` in one process,
//! filled with bare pods, in pods per second end to end, beside a baseline in the same
//! run:
//!
//! - `end_to_end`: from the first create until every pod is seen Running through a watch.
//!   The pods are created through the API server (64 in flight), scheduled by the
//!   scheduler's loop, bound through `pods/binding` and started by the node agents, which
//!   write their status. Starting the cluster and its nodes is not timed.
//! - `store_only` (the baseline): the same pods, encoded once, written straight into an
//!   empty `MemoryStore` at the same concurrency. No cluster can beat it; the ratio says
//!   what admission, scheduling, binding and the node agents cost.
//!
//! ```text
//! cargo bench --bench cluster                                 # 100/3,000 and 500/10,000
//! KUBE_CLUSTER_BENCH_QUICK=1 cargo bench --bench cluster      # 20 nodes, 500 pods
//! ```
// A benchmark reports on stdout and stderr; setup failures end it with a message.
#![allow(clippy::print_stdout, clippy::print_stderr)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::StreamExt as _;
use kube_sdk::api::client::{Api, Client, ListParams, PostParams, WatchParams};
use kube_sdk::core::{Pod, PodPhase, Store, WatchEvent};
use kube_sdk::ctrl::controllers::{ControllersConfig, NodeIpamConfig};
use kube_sdk::node::{KubeletConfig, SimRuntime};
use kube_sdk::{ControlPlane, NodeAgent, RunningControlPlane, RunningNodeAgent};

/// Creates in flight at once.
const CONCURRENCY: usize = 64;

fn kubelet_config(name: String) -> KubeletConfig {
    let capacity = [("cpu", "64"), ("memory", "256Gi"), ("pods", "110")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.parse().unwrap()))
        .collect();
    KubeletConfig {
        node_name: name.clone(),
        hostname: name,
        capacity: Some(capacity),
        server: None,
        record_events: false,
        sync_period: Duration::from_secs(10),
        ..KubeletConfig::default()
    }
}

fn pod(i: usize) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("pod-{i}"), "namespace": "default", "labels": {"app": "bench"}},
        "spec": {
            "containers": [{
                "name": "app",
                "image": "registry.example/bench/app:1",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            }],
            "terminationGracePeriodSeconds": 5,
        },
    }))
    .unwrap()
}

/// A control plane with `nodes` registered node agents.
async fn cluster(nodes: usize) -> (RunningControlPlane, Vec<RunningNodeAgent>) {
    let controllers = ControllersConfig {
        node_ipam: Some(NodeIpamConfig {
            cluster_cidr: "10.0.0.0/8".to_owned(),
            ..NodeIpamConfig::default()
        }),
        ..ControllersConfig::default()
    };
    let cluster = ControlPlane::builder()
        .controllers(controllers)
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    let agents = futures::stream::iter(0..nodes)
        .map(|i| {
            let name = format!("bench-node-{i}");
            let (client, ca) = cluster.node_client(&name);
            async move {
                NodeAgent::builder()
                    .kubelet_config(kubelet_config(name))
                    .client(client, ca)
                    .runtime(SimRuntime::new())
                    .build()
                    .unwrap()
                    .start()
                    .await
                    .unwrap()
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    (cluster, agents)
}

/// Waits until `pods` pods are seen Running, following one watch of every pod from `rv`.
async fn all_running(client: Client, mut rv: String, pods: usize) {
    let api: Api<Pod> = Api::all(client);
    let params = WatchParams {
        bookmarks: true,
        ..WatchParams::default()
    };
    let mut running = HashSet::new();
    while running.len() < pods {
        let mut stream = api.watch(&params, &rv).await.unwrap();
        while let Some(event) = stream.next().await {
            match event.unwrap() {
                WatchEvent::Added(p) | WatchEvent::Modified(p) => {
                    if let Some(v) = &p.metadata.resource_version {
                        rv.clone_from(v);
                    }
                    if p.status.phase == Some(PodPhase::Running) {
                        running.insert(p.metadata.name.unwrap_or_default());
                    }
                }
                WatchEvent::Deleted(_) => {}
                WatchEvent::Bookmark(b) => rv = b.metadata.resource_version,
                WatchEvent::Error(s) => panic!("the watch failed: {s:?}"),
            }
            if running.len() >= pods {
                return;
            }
        }
    }
}

/// One fill of a fresh cluster: the time from the first create until every pod is
/// Running.
async fn end_to_end(nodes: usize, pods: usize) -> Duration {
    let (cluster, agents) = cluster(nodes).await;
    let client = cluster.client();
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap_or_default();
    let waiter = tokio::spawn(all_running(client, rv, pods));
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (api, next) = (api.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= pods {
                        return;
                    }
                    api.create(&PostParams::default(), &pod(i)).await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(600), waiter)
        .await
        .expect("every pod Running within 10 minutes")
        .unwrap();
    let elapsed = started.elapsed();
    for agent in agents {
        agent.shutdown().await;
    }
    cluster.shutdown_within(Duration::from_secs(5)).await;
    elapsed
}

/// The baseline: the same pods written straight into an empty store.
async fn store_only(pods: usize) -> Duration {
    let store: Arc<dyn Store> = Arc::new(kube_sdk::store::MemoryStore::new());
    let encoded: Arc<Vec<(Bytes, Bytes)>> = Arc::new(
        (0..pods)
            .map(|i| {
                (
                    Bytes::from(format!("/registry/pods/default/pod-{i}")),
                    Bytes::from(serde_json::to_vec(&pod(i)).unwrap()),
                )
            })
            .collect(),
    );
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (store, next, encoded) = (store.clone(), next.clone(), encoded.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((k, v)) = encoded.get(i) else { return };
                    store.create(k.clone(), v.clone(), None).await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    started.elapsed()
}

fn main() {
    let quick = std::env::var_os("KUBE_CLUSTER_BENCH_QUICK").is_some();
    let sizes: &[(usize, usize)] = if quick {
        &[(20, 500)]
    } else {
        &[(100, 3_000), (500, 10_000)]
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let mut summary = Vec::new();
    for &(nodes, pods) in sizes {
        let mut group = criterion.benchmark_group("cluster");
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.throughput(Throughput::Elements(pods as u64));
        let size = format!("{nodes}n_{pods}p");
        group.bench_function(BenchmarkId::new("end_to_end", &size), |b| {
            b.to_async(&rt).iter_custom(|iters| async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += end_to_end(nodes, pods).await;
                }
                total
            });
        });
        // One more of each outside criterion's loop, for the ratio printed at the end.
        let e2e = rt.block_on(end_to_end(nodes, pods));
        group.bench_function(BenchmarkId::new("store_only", &size), |b| {
            b.to_async(&rt).iter_custom(|iters| async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += store_only(pods).await;
                }
                total
            });
        });
        let base = rt.block_on(store_only(pods));
        group.finish();
        let rate = |d: Duration| pods as f64 / d.as_secs_f64().max(1e-9);
        summary.push(format!(
            "{size}: end to end {:.0} pods/s, store only {:.0} pods/s, ratio {:.1}x",
            rate(e2e),
            rate(base),
            rate(base) / rate(e2e).max(1e-9)
        ));
    }
    for line in summary {
        println!("{line}");
    }
}
