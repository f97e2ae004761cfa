//! The node IPAM controller: unique pod CIDRs, kept ones respected, freed ones reused,
//! exhaustion reported.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{Cluster, eventually, meta, run};
use kube_api::client::{Api, DeleteParams, PostParams};
use kube_core::{Node, NodeSpec};
use kube_ctrl::controllers::{NodeIpamConfig, NodeIpamController};

async fn node(nodes: &Api<Node>, name: &str, cidr: Option<&str>) {
    let n = Node {
        metadata: meta(name),
        spec: NodeSpec {
            pod_cidr: cidr.map(str::to_owned),
            pod_cidrs: cidr.map(str::to_owned).into_iter().collect(),
            ..NodeSpec::default()
        },
        ..Node::default()
    };
    nodes.create(&PostParams::default(), &n).await.unwrap();
}

async fn cidr_of(nodes: &Api<Node>, name: &str) -> String {
    eventually(&format!("a CIDR for {name}"), || async {
        nodes.get(name).await.unwrap().spec.pod_cidr
    })
    .await
}

#[tokio::test]
async fn every_node_gets_its_own_slash_24() {
    let cluster = Cluster::start().await;
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    node(&nodes, "kept", Some("10.244.0.0/24")).await;
    for n in ["a", "b", "c"] {
        node(&nodes, n, None).await;
    }
    let _m = run(
        &cluster.client,
        vec![Arc::new(
            NodeIpamController::new(NodeIpamConfig::default()).unwrap(),
        )],
    );
    let mut seen = BTreeSet::new();
    for n in ["a", "b", "c"] {
        let cidr = cidr_of(&nodes, n).await;
        let got = nodes.get(n).await.unwrap();
        assert_eq!(got.spec.pod_cidrs, vec![cidr.clone()]);
        assert!(seen.insert(cidr), "CIDRs are unique");
    }
    assert_eq!(
        seen,
        ["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    );
    assert_eq!(cidr_of(&nodes, "kept").await, "10.244.0.0/24");

    // A deleted node's CIDR is free again, but the allocator moves on first (as
    // Kubernetes' does), so a new node does not get a CIDR that may still be in use by
    // pods of the old one; `an_exhausted_range_is_reported_then_reused` wraps around.
    let b = cidr_of(&nodes, "b").await;
    nodes.delete("b", &DeleteParams::default()).await.unwrap();
    eventually("b gone from the cache", || async {
        nodes.get_opt("b").await.unwrap().is_none().then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    node(&nodes, "d", None).await;
    let d = cidr_of(&nodes, "d").await;
    assert_eq!(d, "10.244.4.0/24");
    assert_ne!(d, b);
}

#[tokio::test]
async fn an_exhausted_range_is_reported_then_reused() {
    let cluster = Cluster::start().await;
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    let config = NodeIpamConfig {
        cluster_cidr: "10.10.0.0/23".into(),
        node_mask: 24,
        ..NodeIpamConfig::default()
    };
    let _m = run(
        &cluster.client,
        vec![Arc::new(NodeIpamController::new(config).unwrap())],
    );
    node(&nodes, "one", None).await;
    node(&nodes, "two", None).await;
    cidr_of(&nodes, "one").await;
    cidr_of(&nodes, "two").await;
    node(&nodes, "three", None).await;
    let events: Api<kube_core::Event> = Api::namespaced(cluster.client.clone(), "default");
    eventually("CIDRNotAvailable", || async {
        events
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("CIDRNotAvailable"))
            .then_some(())
    })
    .await;
    assert_eq!(nodes.get("three").await.unwrap().spec.pod_cidr, None);
    let freed = cidr_of(&nodes, "one").await;
    nodes.delete("one", &DeleteParams::default()).await.unwrap();
    assert_eq!(cidr_of(&nodes, "three").await, freed);
    assert!(
        NodeIpamController::new(NodeIpamConfig {
            cluster_cidr: "not a cidr".into(),
            ..NodeIpamConfig::default()
        })
        .is_err()
    );
}
