//! The node agent on the simulated runtime against an in-process API server: registration,
//! heartbeat, pod status, restarts with back-off, graceful deletion, admission, and
//! adoption after a restart of the agent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use kube_api::client::{Api, Client, DeleteParams, PostParams};
use kube_api::server::ApiServer;
use kube_core::{Lease, Node, Pod, PodConditionType, PodPhase, Store};
use kube_node::{Kubelet, KubeletConfig, RunningKubelet, SimRuntime};

async fn cluster() -> Client {
    let store: Arc<dyn Store> = Arc::new(kube_store::MemoryStore::new());
    let api = ApiServer::builder(store).build().await.unwrap();
    Client::new(api, "default")
}

/// Starts a node agent for node `n1` on `runtime`.
async fn start(client: &Client, runtime: SimRuntime) -> RunningKubelet {
    Kubelet::builder(client.clone(), runtime)
        .config(config("n1"))
        .build()
        .start()
        .await
        .unwrap()
}

fn config(node: &str) -> KubeletConfig {
    KubeletConfig {
        node_name: node.into(),
        server: None,
        capacity: Some(
            [("cpu", "4"), ("memory", "8Gi"), ("pods", "10")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.parse().unwrap()))
                .collect(),
        ),
        sync_period: Duration::from_millis(50),
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        lease_renew_interval: Duration::from_millis(200),
        node_status_update_frequency: Duration::from_millis(200),
        pod_log_dir: std::env::temp_dir().join("kube-node-sim-tests"),
        ..KubeletConfig::default()
    }
}

fn pod(name: &str, node: &str, spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["nodeName"] = serde_json::json!(node);
    serde_json::from_value(serde_json::json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

/// Polls `get` until `check` holds, for at most 30 s.
async fn until<T, F, Fut>(what: &str, mut get: F, check: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = get().await {
            if check(&v) {
                return v;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn pod_until(api: &Api<Pod>, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
    until(what, || async { api.get_opt(name).await.unwrap() }, check).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_heartbeats_and_runs_a_pod() {
    let client = cluster().await;
    let runtime = SimRuntime::new();
    let kubelet = start(&client, runtime.clone()).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node = until(
        "a ready node",
        || async { nodes.get_opt("n1").await.unwrap() },
        Node::is_ready,
    )
    .await;
    assert_eq!(node.metadata.labels["kubernetes.io/hostname"], "n1");
    assert_eq!(node.status.capacity["cpu"].value(), 4);
    assert_eq!(node.status.allocatable["pods"].value(), 10);
    assert!(
        node.status
            .node_info
            .container_runtime_version
            .starts_with("sim://")
    );
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = until(
        "a lease",
        || async { leases.get_opt("n1").await.unwrap() },
        |_| true,
    )
    .await;
    assert_eq!(lease.spec.holder_identity.as_deref(), Some("n1"));
    assert_eq!(lease.spec.lease_duration_seconds, Some(40));
    assert_eq!(
        lease.metadata.owner_references[0].uid,
        node.metadata.uid.clone().unwrap()
    );
    let first_renew = lease.spec.renew_time;
    until(
        "a renewed lease",
        || async { leases.get_opt("n1").await.unwrap() },
        |l| l.spec.renew_time != first_renew,
    )
    .await;

    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(
        &PostParams::default(),
        &pod(
            "web",
            "n1",
            serde_json::json!({
                "containers": [{"name": "app", "image": "nginx:1", "command": ["nginx"]}]
            }),
        ),
    )
    .await
    .unwrap();
    let running = pod_until(&pods, "web", "a ready pod", Pod::is_ready).await;
    assert_eq!(running.status.phase, Some(PodPhase::Running));
    assert!(running.status.pod_ip.is_some());
    assert_eq!(running.status.host_ip.as_deref(), Some("127.0.0.1"));
    let cs = &running.status.container_statuses[0];
    assert!(cs.ready && cs.state.running.is_some());
    assert!(cs.container_id.as_deref().unwrap().starts_with("sim://"));
    for t in [
        PodConditionType::PodScheduled,
        PodConditionType::Initialized,
        PodConditionType::ContainersReady,
    ] {
        assert!(running.condition(&t).unwrap().status.is_true(), "{t:?}");
    }
    assert_eq!(runtime.running_containers(), 1);
    let events: Api<kube_core::Event> = Api::default_namespaced(client.clone());
    let reasons = until(
        "Created and Started events",
        || async {
            let list = events.list(&Default::default()).await.unwrap();
            Some(
                list.items
                    .into_iter()
                    .filter_map(|e| e.reason)
                    .collect::<Vec<_>>(),
            )
        },
        |r| r.contains(&"Created".to_owned()) && r.contains(&"Started".to_owned()),
    )
    .await;
    assert!(!reasons.is_empty());

    // Graceful deletion: the agent stops the container and removes the pod.
    pods.delete("web", &DeleteParams::default()).await.unwrap();
    until(
        "the pod to go",
        || async { Some(pods.get_opt("web").await.unwrap()) },
        Option::is_none,
    )
    .await;
    assert_eq!(runtime.running_containers(), 0);
    kubelet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_containers_back_off_and_count_restarts() {
    let client = cluster().await;
    let kubelet = start(&client, SimRuntime::new()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(
        &PostParams::default(),
        &pod(
            "crash",
            "n1",
            serde_json::json!({
                "containers": [{"name": "app", "image": "busybox", "command": ["false"]}]
            }),
        ),
    )
    .await
    .unwrap();
    let looping = pod_until(&pods, "crash", "CrashLoopBackOff", |p| {
        p.status.container_statuses.first().is_some_and(|c| {
            c.restart_count >= 2
                && c.state.waiting.as_ref().and_then(|w| w.reason.as_deref())
                    == Some("CrashLoopBackOff")
        })
    })
    .await;
    let cs = &looping.status.container_statuses[0];
    assert_eq!(cs.last_state.terminated.as_ref().unwrap().exit_code, 1);
    let message = cs.state.waiting.as_ref().unwrap().message.clone().unwrap();
    assert!(
        message.starts_with("back-off ") && message.contains("container=app pod=crash_default("),
        "{message}"
    );
    assert_eq!(looping.status.phase, Some(PodPhase::Running));
    pod_until(&pods, "crash", "more restarts", |p| {
        p.status.container_statuses[0].restart_count >= 4
    })
    .await;

    // restartPolicy Never: one run, then Failed.
    pods.create(
        &PostParams::default(),
        &pod(
            "once",
            "n1",
            serde_json::json!({
                "restartPolicy": "Never",
                "containers": [{"name": "app", "image": "busybox", "command": ["false"]}]
            }),
        ),
    )
    .await
    .unwrap();
    let failed = pod_until(&pods, "once", "a failed pod", |p| {
        p.status.phase == Some(PodPhase::Failed)
    })
    .await;
    assert_eq!(failed.status.container_statuses[0].restart_count, 0);
    // OnFailure and a successful container: Succeeded.
    pods.create(
        &PostParams::default(),
        &pod(
            "job",
            "n1",
            serde_json::json!({
                "restartPolicy": "OnFailure",
                "initContainers": [{"name": "setup", "image": "busybox", "command": ["true"]}],
                "containers": [{"name": "app", "image": "busybox", "command": ["echo", "done"]}]
            }),
        ),
    )
    .await
    .unwrap();
    pod_until(&pods, "job", "a succeeded pod", |p| {
        p.status.phase == Some(PodPhase::Succeeded)
    })
    .await;
    kubelet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_that_do_not_fit_are_rejected() {
    let client = cluster().await;
    let kubelet = start(&client, SimRuntime::new()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(&PostParams::default(), &pod("big", "n1", serde_json::json!({
        "containers": [{"name": "app", "image": "x", "resources": {"requests": {"cpu": "5"}}}]
    })))
    .await
    .unwrap();
    let rejected = pod_until(&pods, "big", "a rejected pod", |p| {
        p.status.phase == Some(PodPhase::Failed)
    })
    .await;
    assert_eq!(rejected.status.reason.as_deref(), Some("OutOfcpu"));
    assert!(
        rejected
            .status
            .message
            .as_deref()
            .unwrap()
            .contains("requested: 5000, used: 0, capacity: 4000")
    );
    assert!(
        rejected.status.container_statuses[0]
            .state
            .running
            .is_none()
    );
    kubelet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_adopts_its_containers() {
    let client = cluster().await;
    let runtime = SimRuntime::new();
    let first = start(&client, runtime.clone()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    for name in ["a", "b"] {
        pods.create(
            &PostParams::default(),
            &pod(
                name,
                "n1",
                serde_json::json!({
                    "containers": [{"name": "app", "image": "x", "command": ["server"]}]
                }),
            ),
        )
        .await
        .unwrap();
        pod_until(&pods, name, "a ready pod", Pod::is_ready).await;
    }
    let before: Vec<String> = pods
        .get("a")
        .await
        .unwrap()
        .status
        .container_statuses
        .iter()
        .filter_map(|c| c.container_id.clone())
        .collect();
    drop(first);
    // While the agent is down, one pod is deleted for good (force) and nothing else changes.
    pods.delete("b", &DeleteParams::immediate()).await.unwrap();
    let second = start(&client, runtime.clone()).await;
    until(
        "the orphan to be stopped",
        || async { Some(runtime.running_containers()) },
        |n| *n == 1,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = pods.get("a").await.unwrap();
    let after: Vec<String> = a
        .status
        .container_statuses
        .iter()
        .filter_map(|c| c.container_id.clone())
        .collect();
    assert_eq!(before, after, "the same container, not a second one");
    assert_eq!(a.status.container_statuses[0].restart_count, 0);
    assert_eq!(runtime.running_containers(), 1);
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_pod_is_not_rewritten_on_every_sync() {
    let client = cluster().await;
    let kubelet = start(&client, SimRuntime::new()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(
        &PostParams::default(),
        &pod(
            "quiet",
            "n1",
            serde_json::json!({"containers": [{"name": "app", "image": "nginx:1"}]}),
        ),
    )
    .await
    .unwrap();
    pod_until(&pods, "quiet", "a ready pod", Pod::is_ready).await;
    // Let the probe results and the first syncs settle, then watch 20 sync periods: the
    // server drops a write that changes nothing, so count the requests themselves.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = status_writes(&client).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        status_writes(&client).await,
        settled,
        "status written with nothing changed"
    );
    kubelet.shutdown().await;
}

/// The pods/status writes the API server has served, from its metrics.
async fn status_writes(client: &Client) -> u64 {
    requests(client, "PATCH", "pods/status").await + requests(client, "PUT", "pods/status").await
}

/// Requests the API server has served for `verb` on `resource`, from its metrics.
async fn requests(client: &Client, verb: &str, resource: &str) -> u64 {
    use http_body_util::BodyExt as _;
    let request = http::Request::get("/metrics")
        .body(bytes::Bytes::new())
        .unwrap();
    let body = client
        .send(request)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    let (verb, resource) = (
        format!("verb=\"{verb}\""),
        format!("resource=\"{resource}\""),
    );
    String::from_utf8_lossy(&body.to_bytes())
        .lines()
        .filter(|l| {
            l.starts_with("apiserver_request_total{") && l.contains(&verb) && l.contains(&resource)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_is_renewed_without_reading_it_and_after_a_conflict() {
    let client = cluster().await;
    let kubelet = start(&client, SimRuntime::new()).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let renewals = |n: u64| {
        let client = client.clone();
        async move { (requests(&client, "PUT", "leases").await >= n).then_some(()) }
    };
    until("three renewals", || renewals(3), |_| true).await;
    // One read when the agent started; none per renewal.
    assert_eq!(requests(&client, "GET", "leases").await, 1);

    // Somebody else writes the Lease: the agent's next update conflicts, and it reads the
    // Lease again and renews it.
    let mut lease = leases.get("n1").await.unwrap();
    lease.metadata.labels.insert("touched".into(), "yes".into());
    let touched = leases
        .replace("n1", &PostParams::default(), &lease)
        .await
        .unwrap();
    until(
        "a renewal after the conflict",
        || async { leases.get_opt("n1").await.unwrap() },
        |l| l.spec.renew_time != touched.spec.renew_time,
    )
    .await;
    let renewed = leases.get("n1").await.unwrap();
    assert_eq!(renewed.metadata.labels["touched"], "yes");
    assert_eq!(renewed.spec.holder_identity.as_deref(), Some("n1"));
    kubelet.shutdown().await;
}

#[tokio::test]
async fn taking_over_an_existing_node_retries_after_a_conflict() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use kube_api::server::{ApiBody, ApiRequest};
    use tower::ServiceExt as _;

    let store: Arc<dyn Store> = Arc::new(kube_store::MemoryStore::new());
    let api = ApiServer::builder(store).build().await.unwrap();
    // The first replace of the Node loses to another writer (node IPAM setting the CIDR,
    // say), as if it had changed between the agent's read and its write.
    let conflicts = Arc::new(AtomicUsize::new(0));
    let seen = conflicts.clone();
    let inner = api.clone();
    let service = tower::service_fn(move |req: ApiRequest| {
        let inner = inner.clone();
        let seen = seen.clone();
        async move {
            if req.method() == http::Method::PUT
                && req.uri().path() == "/api/v1/nodes/n1"
                && seen.fetch_add(1, Ordering::SeqCst) == 0
            {
                let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Conflict","code":409,"message":"the object has been modified"}"#;
                return Ok(http::Response::builder()
                    .status(409)
                    .header("content-type", "application/json")
                    .body(ApiBody::from(body))
                    .unwrap());
            }
            inner.oneshot(req).await
        }
    });
    let client = Client::new(service, "default");
    let nodes: Api<Node> = Api::all(client.clone());
    let existing: Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "n1"}, "spec": {"unschedulable": true}
    }))
    .unwrap();
    nodes
        .create(&PostParams::default(), &existing)
        .await
        .unwrap();

    let kubelet = Kubelet::builder(client.clone(), SimRuntime::new())
        .config(config("n1"))
        .build()
        .start()
        .await
        .expect("the agent takes the Node over after the conflict");
    assert!(
        conflicts.load(Ordering::SeqCst) >= 2,
        "the replace was tried again"
    );
    let node = nodes.get("n1").await.unwrap();
    assert!(node.spec.unschedulable, "the existing spec is kept");
    kubelet.shutdown().await;
}
