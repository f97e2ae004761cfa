//! How many simulated nodes one process holds: starts `NODES` node agents on `SimRuntime`
//! against one in-process API server, binds `PODS_PER_NODE` pods to each, and reports the
//! time until every pod is Ready and the memory the agents take.
//!
//! `cargo run --release -p kube-node --example sim_scale -- 200 10`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_api::client::{Api, Client, ListParams, PostParams};
use kube_api::server::ApiServer;
use kube_core::{Pod, Store};
use kube_node::{Kubelet, KubeletConfig, SimRuntime};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let nodes = args.first().copied().unwrap_or(100);
    let per_node = args.get(1).copied().unwrap_or(10);
    let store: Arc<dyn Store> = Arc::new(kube_store::MemoryStore::new());
    let client = Client::new(ApiServer::builder(store).build().await.unwrap(), "default");
    let before = rss_kib();
    let started = Instant::now();
    let mut agents = Vec::with_capacity(nodes);
    for i in 0..nodes {
        let config = KubeletConfig {
            node_name: format!("sim-{i}"),
            server: None,
            capacity: Some(
                [("cpu", "32"), ("memory", "128Gi"), ("pods", "110")]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.parse().unwrap()))
                    .collect(),
            ),
            sync_period: Duration::from_secs(10),
            record_events: false,
            ..KubeletConfig::default()
        };
        agents.push(
            Kubelet::builder(client.clone(), SimRuntime::new())
                .config(config)
                .build()
                .start()
                .await
                .unwrap(),
        );
    }
    let registered = started.elapsed();
    let after_nodes = rss_kib();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let created = Instant::now();
    for n in 0..nodes {
        for p in 0..per_node {
            let pod: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("p-{n}-{p}")},
                "spec": {"nodeName": format!("sim-{n}"), "containers": [{"name": "app", "image": "app:1"}]}
            }))
            .unwrap();
            pods.create(&PostParams::default(), &pod).await.unwrap();
        }
    }
    let total = nodes * per_node;
    loop {
        let ready = pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|p| p.is_ready())
            .count();
        if ready == total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_ready = created.elapsed();
    let after_pods = rss_kib();
    println!("nodes: {nodes}, pods: {total}");
    println!("registered {nodes} nodes in {registered:?}");
    println!("all {total} pods Ready {all_ready:?} after the first create");
    println!(
        "memory: {} KiB per node agent (with its informer), {} KiB per running pod",
        after_nodes.saturating_sub(before) / nodes as u64,
        after_pods.saturating_sub(after_nodes) / total as u64
    );
    for a in agents {
        a.shutdown().await;
    }
}
