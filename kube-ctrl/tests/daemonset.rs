//! The DaemonSet controller: one pod per eligible node, following node changes, taints,
//! failures and rolling updates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{
    Cluster, active_pods, eventually, fake_kubelet, labels, meta, run, selector, set_pod_status,
    template,
};
use kube_api::client::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube_core::{
    DaemonSet, DaemonSetSpec, Node, NodeSpec, ObjectMeta, Pod, PodPhase, Taint, TaintEffect,
};
use kube_ctrl::controllers::DaemonSetController;
use kube_ctrl::controllers::daemonset::REVISION_HASH_LABEL;

async fn node(nodes: &Api<Node>, name: &str, node_labels: &[(&str, &str)], taints: Vec<Taint>) {
    let n = Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: labels(node_labels),
            ..ObjectMeta::default()
        },
        spec: NodeSpec {
            taints,
            ..NodeSpec::default()
        },
        ..Node::default()
    };
    nodes.create(&PostParams::default(), &n).await.unwrap();
}

fn target(pod: &Pod) -> String {
    let terms = &pod
        .spec
        .affinity
        .as_ref()
        .unwrap()
        .node_affinity
        .as_ref()
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap()
        .node_selector_terms;
    terms[0].match_fields[0].values[0].clone()
}

async fn pods_on(pods: &Api<Pod>, want: &[&str]) -> Vec<Pod> {
    let want: BTreeSet<String> = want.iter().map(|s| (*s).to_owned()).collect();
    eventually(&format!("daemon pods on {want:?}"), || async {
        let list = active_pods(pods).await;
        let on: Vec<String> = list.iter().map(target).collect();
        let set: BTreeSet<String> = on.iter().cloned().collect();
        (set == want && on.len() == want.len()).then_some(list)
    })
    .await
}

fn daemonset(name: &str) -> DaemonSet {
    DaemonSet {
        metadata: meta(name),
        spec: DaemonSetSpec {
            selector: Some(selector(&[("app", name)])),
            template: template(&[("app", name)], "agent:1"),
            ..DaemonSetSpec::default()
        },
        ..DaemonSet::default()
    }
}

#[tokio::test]
async fn one_pod_per_eligible_node_following_the_nodes() {
    let cluster = Cluster::start().await;
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    node(&nodes, "n1", &[], vec![]).await;
    node(&nodes, "n2", &[("disk", "ssd")], vec![]).await;
    let dedicated = Taint {
        key: "dedicated".into(),
        value: Some("db".into()),
        effect: TaintEffect::NoSchedule,
        time_added: None,
    };
    node(&nodes, "n3", &[], vec![dedicated]).await;
    // Cordoned nodes still run daemons (default toleration).
    node(
        &nodes,
        "cordoned",
        &[],
        vec![Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            value: None,
            effect: TaintEffect::NoSchedule,
            time_added: None,
        }],
    )
    .await;
    let _m = run(
        &cluster.client,
        vec![Arc::new(DaemonSetController::default())],
    );
    let sets: Api<DaemonSet> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    sets.create(&PostParams::default(), &daemonset("agent"))
        .await
        .unwrap();

    let list = pods_on(&pods, &["n1", "n2", "cordoned"]).await;
    assert!(
        list.iter()
            .all(|p| p.metadata.labels.contains_key(REVISION_HASH_LABEL))
    );
    assert!(
        list[0]
            .spec
            .tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some("node.kubernetes.io/unreachable"))
    );
    eventually("the status", || async {
        let s = sets.get("agent").await.unwrap().status;
        (s.desired_number_scheduled == 3 && s.current_number_scheduled == 3).then_some(())
    })
    .await;

    // A new node gets a pod; a deleted one loses it.
    node(&nodes, "n4", &[], vec![]).await;
    pods_on(&pods, &["n1", "n2", "cordoned", "n4"]).await;
    nodes.delete("n4", &DeleteParams::default()).await.unwrap();
    pods_on(&pods, &["n1", "n2", "cordoned"]).await;

    // An untolerated NoExecute taint drives the pod off.
    let mut n1 = nodes.get("n1").await.unwrap();
    n1.spec.taints.push(Taint {
        key: "evict".into(),
        value: None,
        effect: TaintEffect::NoExecute,
        time_added: None,
    });
    nodes
        .replace("n1", &PostParams::default(), &n1)
        .await
        .unwrap();
    pods_on(&pods, &["n2", "cordoned"]).await;

    // A node selector narrows it down.
    sets.patch(
        "agent",
        &PatchParams::default(),
        &Patch::Merge(
            serde_json::json!({"spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}}),
        ),
    )
    .await
    .unwrap();
    pods_on(&pods, &["n2"]).await;

    // A failed pod is replaced.
    let failed = active_pods(&pods).await.remove(0);
    set_pod_status(&pods, failed.metadata.name.as_deref().unwrap(), |p| {
        p.status.phase = Some(PodPhase::Failed);
    })
    .await;
    eventually("a replacement", || async {
        let list = active_pods(&pods).await;
        (list.len() == 1 && list[0].metadata.uid != failed.metadata.uid).then_some(())
    })
    .await;
}

/// The worst moments of a rolling update: the most nodes without a ready pod, and the
/// most nodes running two pods at once.
struct Worst {
    nodes_without_a_ready_pod: usize,
    nodes_with_two_pods: usize,
}

/// Rolls `ds` out on four nodes (a fake node agent, the controller), changes its
/// template, and watches until every node runs one updated, available pod.
async fn roll_out(ds: DaemonSet) -> Worst {
    let cluster = Cluster::start().await;
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    for n in ["a", "b", "c", "d"] {
        node(&nodes, n, &[], vec![]).await;
    }
    let _kubelet = fake_kubelet(&cluster.client, || Duration::from_millis(30));
    let _m = run(
        &cluster.client,
        vec![Arc::new(DaemonSetController::default())],
    );
    let sets: Api<DaemonSet> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let name = ds.metadata.name.clone().unwrap();
    sets.create(&PostParams::default(), &ds).await.unwrap();
    eventually("all available", || async {
        let s = sets.get(&name).await.unwrap().status;
        (s.number_available == Some(4)).then_some(())
    })
    .await;
    let old_hash = active_pods(&pods).await[0].metadata.labels[REVISION_HASH_LABEL].clone();
    sets.patch(
        &name,
        &PatchParams::default(),
        &Patch::Strategic(serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "agent:2"}]}}}})),
    )
    .await
    .unwrap();
    let (missing, doubled) = (AtomicUsize::new(0), AtomicUsize::new(0));
    eventually("every pod updated and available", || async {
        let list = active_pods(&pods).await;
        let ready_nodes: BTreeSet<String> =
            list.iter().filter(|p| p.is_ready()).map(target).collect();
        missing.fetch_max(4 - ready_nodes.len(), Ordering::Relaxed);
        let all_nodes: Vec<String> = list.iter().map(target).collect();
        let distinct: BTreeSet<&String> = all_nodes.iter().collect();
        doubled.fetch_max(all_nodes.len() - distinct.len(), Ordering::Relaxed);
        let s = sets.get(&name).await.unwrap().status;
        (list.len() == 4
            && list
                .iter()
                .all(|p| p.metadata.labels[REVISION_HASH_LABEL] != old_hash)
            && s.updated_number_scheduled == Some(4)
            && s.number_available == Some(4))
        .then_some(())
    })
    .await;
    Worst {
        nodes_without_a_ready_pod: missing.into_inner(),
        nodes_with_two_pods: doubled.into_inner(),
    }
}

#[tokio::test]
async fn a_rolling_update_replaces_pods_node_by_node() {
    let worst = roll_out(daemonset("log")).await;
    assert!(
        worst.nodes_without_a_ready_pod <= 1,
        "at most maxUnavailable (1) node without a ready pod: saw {}",
        worst.nodes_without_a_ready_pod
    );
    assert_eq!(
        worst.nodes_with_two_pods, 0,
        "old pods go before new ones come"
    );
}

#[tokio::test]
async fn a_surging_update_starts_each_new_pod_beside_the_old_one() {
    let mut ds = daemonset("net");
    ds.spec.update_strategy.rolling_update = Some(kube_core::RollingUpdateDaemonSet {
        max_unavailable: Some(kube_core::IntOrString::Int(0)),
        max_surge: Some(kube_core::IntOrString::Int(1)),
    });
    let worst = roll_out(ds).await;
    // Every node keeps a ready pod throughout; at most one node (maxSurge) runs two.
    assert_eq!(
        worst.nodes_without_a_ready_pod, 0,
        "a node without a ready pod"
    );
    assert!(
        worst.nodes_with_two_pods <= 1,
        "at most maxSurge (1) node with two pods: saw {}",
        worst.nodes_with_two_pods
    );
}
