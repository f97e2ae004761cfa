//! A scheduler of your own: replacing the `kube_core::Scheduler` trait.
//!
//! What it shows: [`FewestPods`], a whole scheduling algorithm in one `schedule` function
//! (Ready, not cordoned, room for one more pod; then the node with the fewest pods), run by
//! the control plane's scheduling loop for the pods whose `spec.schedulerName` is
//! `fewest-pods`. The loop feeds it a consistent snapshot (pods bound *and* assumed) and
//! binds its answers, so a burst of pods spreads evenly. Three node agents on the simulated
//! runtime; one is cordoned before it joins and gets nothing. The example checks the outcome and exits.
//!
//! Run it: `cargo run --example custom-scheduler`

#[path = "shared/completion.rs"]
mod completion;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube_sdk::core::scheduler::{
    Decision, FitCode, NodeRejection, PodInfo, Snapshot, Unschedulable,
};
use kube_sdk::core::{PodPhase, Scheduler};
use kube_sdk::node::SimRuntime;
use kube_sdk::prelude::*;
use kube_sdk::{NodeAgent, RunningNodeAgent};

/// Puts each pod on the schedulable node that has the fewest pods.
#[derive(Debug)]
struct FewestPods;

impl Scheduler for FewestPods {
    fn schedule(&self, pod: &Arc<PodInfo>, snapshot: &Snapshot) -> Result<Decision, Unschedulable> {
        let mut rejections = Vec::new();
        let mut best: Option<(usize, &str)> = None;
        for info in snapshot.nodes() {
            let reject = |code, reason: &'static str| NodeRejection {
                node: info.name_arc().clone(),
                code,
                plugin: Cow::Borrowed("FewestPods"),
                reasons: vec![Cow::Borrowed(reason)],
            };
            let Some(node) = info.node() else { continue };
            let pods = info.pods().len();
            if !node.is_ready() {
                rejections.push(reject(
                    FitCode::UnschedulableAndUnresolvable,
                    "node(s) were not ready",
                ));
            } else if node.spec.unschedulable {
                rejections.push(reject(
                    FitCode::UnschedulableAndUnresolvable,
                    "node(s) were unschedulable",
                ));
            } else if i64::try_from(pods).unwrap_or(i64::MAX) >= info.allocatable().pods {
                rejections.push(reject(FitCode::Unschedulable, "Too many pods"));
            } else if best.is_none_or(|(n, _)| pods < n) {
                best = Some((pods, info.name()));
            }
        }
        tracing::debug!(pod = %pod.key(), ?best, "FewestPods decided");
        match best {
            Some((_, node)) => Ok(Decision {
                node: node.to_owned(),
                evaluated_nodes: snapshot.len(),
                feasible_nodes: snapshot.len() - rejections.len(),
            }),
            None => Err(Unschedulable {
                num_nodes: snapshot.len(),
                plugins: vec![Cow::Borrowed("FewestPods")],
                rejections,
                ..Unschedulable::default()
            }),
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = ControlPlane::builder()
        .custom_scheduler(FewestPods, ["fewest-pods"])
        .build()
        .await?
        .start()
        .await?;
    // node-3 is cordoned before it joins (its agent finds the Node and keeps the spec), so
    // no version of it the scheduler sees takes pods.
    let nodes: Api<Node> = Api::all(cluster.client());
    let cordoned: Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "node-3"}, "spec": {"unschedulable": true},
    }))?;
    nodes.create(&PostParams::default(), &cordoned).await?;
    let logs = tempfile::tempdir()?;
    let mut agents: Vec<RunningNodeAgent> = Vec::new();
    for name in ["node-1", "node-2", "node-3"] {
        let (client, ca) = cluster.node_client(name);
        let agent = NodeAgent::builder()
            // A full disk on the machine running this must not taint the node away.
            .kubelet_config(kube_sdk::node::KubeletConfig {
                eviction_disk_available_fraction: 0.0,
                ..kube_sdk::node::KubeletConfig::default()
            })
            .client(client, ca)
            .node_name(name)
            .server_addr("127.0.0.1:0".parse()?)
            .log_dir(logs.path().join(name))
            .runtime(SimRuntime::new())
            .build()?
            .start()
            .await?;
        agents.push(agent);
    }
    completion::wait_for("three Ready nodes", || async {
        let list = nodes.list(&ListParams::default()).await?;
        Ok(list.into_iter().filter(Node::is_ready).count() == 3)
    })
    .await?;
    if !nodes.get("node-3").await?.spec.unschedulable {
        return Err("node-3 lost its cordon when its agent registered".into());
    }

    let pods: Api<Pod> = Api::default_namespaced(cluster.client());
    for i in 0..6 {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("web-{i}"), "labels": {"app": "web"}},
            "spec": {"schedulerName": "fewest-pods",
                     "containers": [{"name": "web", "image": "web:1"}]},
        }))?;
        pods.create(&PostParams::default(), &pod).await?;
    }
    let selector = ListParams::default().labels("app=web");
    completion::wait_for("six Running pods", || async {
        let list = pods.list(&selector).await?;
        Ok(list
            .into_iter()
            .filter(|p| p.status.phase == Some(PodPhase::Running))
            .count()
            == 6)
    })
    .await?;
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for pod in pods.list(&selector).await? {
        *per_node
            .entry(pod.spec.node_name.unwrap_or_default())
            .or_default() += 1;
    }
    tracing::info!(?per_node, "where the pods went");
    let expected = BTreeMap::from([("node-1".to_owned(), 3), ("node-2".to_owned(), 3)]);
    if per_node != expected {
        return Err(format!("expected {expected:?}, got {per_node:?}").into());
    }
    for agent in agents {
        agent.shutdown_and_stop_pods(Duration::from_secs(5)).await;
    }
    cluster.shutdown().await;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    completion::run(
        run(),
        "custom-scheduler: the pods spread evenly over the schedulable nodes",
    )
}
