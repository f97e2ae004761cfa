//! `NodeAgent::builder()`: wrong combinations are errors at `build()`, and a node agent on
//! the simulator joins an in-process control plane, runs a pod and stops cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kube_sdk::api::client::{Api, PostParams};
use kube_sdk::core::{Container, Node, ObjectMeta, Pod, PodSpec, Quantity};
use kube_sdk::node::SimRuntime;
use kube_sdk::{BuildError, ControlPlane, NodeAgent};

/// An in-process control plane with the defaults, started.
async fn control_plane() -> kube_sdk::RunningControlPlane {
    ControlPlane::builder()
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap()
}

fn config_error(result: Result<NodeAgent, BuildError>) -> String {
    match result {
        Err(BuildError::Config(message)) => message,
        Err(other) => panic!("expected a configuration error, got {other:?}"),
        Ok(_) => panic!("expected a configuration error, the agent was built"),
    }
}

#[tokio::test]
async fn an_agent_without_a_runtime_is_refused_at_build() {
    let cluster = control_plane().await;
    let message = config_error(
        NodeAgent::builder()
            .client(cluster.client(), None)
            .node_name("n1")
            .build(),
    );
    assert!(message.contains("runtime"), "{message}");
    cluster.shutdown().await;
}

#[test]
fn an_agent_without_an_api_server_is_refused_at_build() {
    let message = config_error(
        NodeAgent::builder()
            .node_name("n1")
            .runtime(SimRuntime::new())
            .build(),
    );
    assert!(message.contains("API server"), "{message}");
}

#[tokio::test]
async fn an_invalid_node_name_is_refused_at_build() {
    let cluster = control_plane().await;
    let message = config_error(
        NodeAgent::builder()
            .client(cluster.client(), None)
            .node_name("Not_A_Name")
            .runtime(SimRuntime::new())
            .build(),
    );
    assert!(message.contains("Not_A_Name"), "{message}");
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_missing_kubeconfig_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.kubeconfig");
    let err = NodeAgent::builder()
        .kubeconfig(&missing)
        .node_name("n1")
        .runtime(SimRuntime::new())
        .build()
        .expect_err("no kubeconfig there");
    assert!(
        matches!(&err, BuildError::Kubeconfig { path, .. } if *path == missing),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_node_joins_runs_a_pod_and_stops() {
    let cluster = control_plane().await;
    let (client, ca) = cluster.node_client("sim-1");
    let agent = NodeAgent::builder()
        .client(client, ca)
        .node_name("sim-1")
        // A fixed size: the node reads nothing of the test machine, whose disk may be
        // full enough to report DiskPressure and keep the pod off the node.
        .capacity(
            [("cpu", "4"), ("memory", "8Gi"), ("pods", "110")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.parse::<Quantity>().unwrap()))
                .collect(),
        )
        .runtime(SimRuntime::new())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let nodes: Api<Node> = Api::all(cluster.client());
    let pods: Api<Pod> = Api::default_namespaced(cluster.client());
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("p".into()),
            ..ObjectMeta::default()
        },
        spec: PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: Some("sim".into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        },
        ..Pod::default()
    };
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let pod = pods.get("p").await.unwrap();
        if pod.spec.node_name.as_deref() == Some("sim-1") && pod.is_ready() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pod never ran: {pod:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(nodes.get("sim-1").await.is_ok());
    agent.shutdown().await;
    cluster.shutdown().await;
}
