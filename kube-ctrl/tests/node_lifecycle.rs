//! The NodeLifecycle controller: a node whose Lease stops renewing goes Unknown, is
//! tainted unreachable, and its pods are evicted as their tolerations say; it recovers
//! when it reports again; a full disruption evicts nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Cluster, eventually, mark_ready, meta, run};
use kube_api::client::{Api, PostParams};
use kube_core::{
    ConditionStatus, Container, Lease, LeaseSpec, MicroTime, Node, NodeCondition,
    NodeConditionType, Pod, PodSpec, TaintEffect, Time, Toleration, TolerationOperator,
};
use kube_ctrl::controllers::taints::TAINT_UNREACHABLE;
use kube_ctrl::controllers::{NodeLifecycleConfig, NodeLifecycleController};

fn controller() -> Arc<NodeLifecycleController> {
    Arc::new(NodeLifecycleController::new(NodeLifecycleConfig {
        grace_period: Duration::from_secs(2),
        startup_grace_period: Duration::from_secs(2),
        ..NodeLifecycleConfig::default()
    }))
}

async fn ready_node(cluster: &Cluster, name: &str) {
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    let node = nodes
        .create(
            &PostParams::default(),
            &Node {
                metadata: meta(name),
                ..Node::default()
            },
        )
        .await
        .unwrap();
    report_ready(cluster, name, node).await;
}

async fn report_ready(cluster: &Cluster, name: &str, mut node: Node) {
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    node.status.conditions = vec![NodeCondition {
        type_: NodeConditionType::Ready,
        status: ConditionStatus::True,
        last_heartbeat_time: Some(Time::now()),
        last_transition_time: Some(Time::now()),
        reason: Some("KubeletReady".into()),
        message: Some("kubelet is posting ready status".into()),
    }];
    nodes
        .replace_status(name, &PostParams::default(), &node)
        .await
        .unwrap();
}

/// Renews a node's Lease, as its agent does, until dropped.
fn heartbeat(cluster: &Cluster, name: &str) -> tokio::task::JoinHandle<()> {
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), "kube-node-lease");
    let name = name.to_owned();
    tokio::spawn(async move {
        loop {
            let now = MicroTime::now();
            match leases.get_opt(&name).await.unwrap() {
                Some(mut l) => {
                    l.spec.renew_time = Some(now);
                    let _ = leases.replace(&name, &PostParams::default(), &l).await;
                }
                None => {
                    let l = Lease {
                        metadata: meta(&name),
                        spec: LeaseSpec {
                            holder_identity: Some(name.clone()),
                            lease_duration_seconds: Some(40),
                            renew_time: Some(now),
                            ..LeaseSpec::default()
                        },
                    };
                    let _ = leases.create(&PostParams::default(), &l).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

fn pod_on(name: &str, node: &str, tolerate_for: Option<Option<i64>>) -> Pod {
    Pod {
        metadata: meta(name),
        spec: PodSpec {
            node_name: Some(node.into()),
            containers: vec![Container {
                name: "c".into(),
                image: Some("busybox".into()),
                ..Container::default()
            }],
            tolerations: tolerate_for
                .map(|seconds| Toleration {
                    key: Some(TAINT_UNREACHABLE.into()),
                    operator: Some(TolerationOperator::Exists),
                    effect: Some(TaintEffect::NoExecute),
                    value: None,
                    toleration_seconds: seconds,
                })
                .into_iter()
                .collect(),
            ..PodSpec::default()
        },
        ..Pod::default()
    }
}

#[tokio::test]
async fn a_silent_node_is_tainted_and_its_pods_evicted() {
    let cluster = Cluster::start().await;
    ready_node(&cluster, "alive").await;
    ready_node(&cluster, "doomed").await;
    let alive = heartbeat(&cluster, "alive");
    let doomed = heartbeat(&cluster, "doomed");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let pp = PostParams::default();
    // A pod without tolerations is given 300 s ones at admission
    // (DefaultTolerationSeconds), as in Kubernetes; zero seconds means "evict at once".
    pods.create(&pp, &pod_on("intolerant", "doomed", Some(Some(0))))
        .await
        .unwrap();
    pods.create(&pp, &pod_on("patient", "doomed", Some(Some(2))))
        .await
        .unwrap();
    pods.create(&pp, &pod_on("stubborn", "doomed", Some(None)))
        .await
        .unwrap();
    pods.create(&pp, &pod_on("elsewhere", "alive", None))
        .await
        .unwrap();
    for p in ["intolerant", "patient", "stubborn", "elsewhere"] {
        mark_ready(&pods, p, "10.244.1.1").await;
    }
    let _m = run(&cluster.client, vec![controller()]);
    let nodes: Api<Node> = Api::all(cluster.client.clone());

    // While both report, nothing happens.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(nodes.get("doomed").await.unwrap().spec.taints.is_empty());

    // The doomed node's agent dies.
    doomed.abort();
    let node = eventually("the node goes Unknown and is tainted", || async {
        let n = nodes.get("doomed").await.unwrap();
        let unknown = n
            .condition(&NodeConditionType::Ready)
            .is_some_and(|c| c.status == ConditionStatus::Unknown);
        let tainted = n
            .spec
            .taints
            .iter()
            .any(|t| t.key == TAINT_UNREACHABLE && t.effect == TaintEffect::NoExecute);
        (unknown && tainted).then_some(n)
    })
    .await;
    let ready = node.condition(&NodeConditionType::Ready).unwrap();
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    assert!(
        node.condition(&NodeConditionType::MemoryPressure)
            .is_some_and(|c| c.status == ConditionStatus::Unknown)
    );
    assert!(
        node.spec
            .taints
            .iter()
            .any(|t| t.key == TAINT_UNREACHABLE && t.effect == TaintEffect::NoSchedule)
    );
    let deleting = |p: Pod| p.metadata.deletion_timestamp.is_some();
    eventually("the intolerant pod is evicted at once", || async {
        deleting(pods.get("intolerant").await.unwrap()).then_some(())
    })
    .await;
    // Pods on the node are marked not ready (the endpoints drop them).
    assert!(!pods.get("stubborn").await.unwrap().is_ready());
    eventually("the patient pod after its two seconds", || async {
        deleting(pods.get("patient").await.unwrap()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !deleting(pods.get("stubborn").await.unwrap()),
        "tolerates forever"
    );
    let other = pods.get("elsewhere").await.unwrap();
    assert!(!deleting(other.clone()) && other.is_ready());
    assert!(nodes.get("alive").await.unwrap().spec.taints.is_empty());

    // The agent comes back and reports Ready: the taints go.
    let _back = heartbeat(&cluster, "doomed");
    report_ready(&cluster, "doomed", nodes.get("doomed").await.unwrap()).await;
    eventually("the taints are removed", || async {
        nodes
            .get("doomed")
            .await
            .unwrap()
            .spec
            .taints
            .is_empty()
            .then_some(())
    })
    .await;
    alive.abort();
}

#[tokio::test]
async fn when_every_node_is_silent_nothing_is_evicted() {
    let cluster = Cluster::start().await;
    ready_node(&cluster, "only").await;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    pods.create(&PostParams::default(), &pod_on("victim", "only", None))
        .await
        .unwrap();
    let _m = run(&cluster.client, vec![controller()]);
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    let node = eventually("the node goes Unknown", || async {
        let n = nodes.get("only").await.unwrap();
        n.condition(&NodeConditionType::Ready)
            .is_some_and(|c| c.status == ConditionStatus::Unknown)
            .then_some(n)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let node = nodes.get("only").await.unwrap_or(node);
    assert!(
        !node
            .spec
            .taints
            .iter()
            .any(|t| t.effect == TaintEffect::NoExecute),
        "a full disruption adds no NoExecute taint: {:?}",
        node.spec.taints
    );
    assert!(
        pods.get("victim")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );
}
