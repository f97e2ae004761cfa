//! An in-process cluster for the loop's tests: an API server on a MemoryStore, nodes with
//! their status, pods, and waits on what the API server reports.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_api::client::{Api, Client, DeleteParams, Patch, PatchParams, PostParams};
use kube_api::server::ApiServer;
use kube_core::{ConditionStatus, Node, Pod, PodCondition, PodConditionType, Store};
use kube_sched::testing::{NodeBuilder, PodBuilder};
use kube_sched::{QueueConfig, RunnerConfig};
use kube_store::MemoryStore;

/// How long any wait may take before the test fails: generous, the machines are shared.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// A test cluster.
pub(crate) struct Cluster {
    /// Kept alive for the client.
    pub(crate) _server: ApiServer,
    /// A client in namespace `default`.
    pub(crate) client: Client,
}

impl Cluster {
    /// A fresh API server on a MemoryStore.
    pub(crate) async fn new() -> Self {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let server = ApiServer::builder(store).build().await.unwrap();
        let client = Client::new(server.clone(), "default");
        Self {
            _server: server,
            client,
        }
    }

    /// Pods in `default`.
    pub(crate) fn pods(&self) -> Api<Pod> {
        Api::default_namespaced(self.client.clone())
    }

    /// Nodes.
    pub(crate) fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    /// Creates a node and reports its status (capacity, allocatable), as a node agent
    /// would: the API server drops status on create.
    pub(crate) async fn add_node(&self, node: NodeBuilder) {
        let node = node.node();
        let name = node.metadata.name.clone().unwrap();
        let status = serde_json::to_value(&node.status).unwrap();
        self.nodes()
            .create(&PostParams::default(), &node)
            .await
            .unwrap();
        self.nodes()
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({ "status": status })),
            )
            .await
            .unwrap();
    }

    /// Creates a pod (containers without an image get one: the API server requires it).
    pub(crate) async fn add_pod(&self, pod: PodBuilder) -> Pod {
        let mut pod = pod.pod();
        for c in &mut pod.spec.containers {
            c.image
                .get_or_insert_with(|| "registry.example/app:1".to_owned());
        }
        self.pods()
            .create(&PostParams::default(), &pod)
            .await
            .unwrap()
    }

    /// The pod as the API server has it now.
    pub(crate) async fn pod(&self, name: &str) -> Pod {
        self.pods().get(name).await.unwrap()
    }

    /// Waits until `check` holds for the pod named `name`; returns the pod then.
    pub(crate) async fn wait_pod(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&Pod) -> bool,
    ) -> Pod {
        let pods = self.pods();
        wait(what, || async {
            pods.get_opt(name).await.unwrap().filter(|p| check(p))
        })
        .await
    }

    /// Waits until the pod is bound; returns its node.
    pub(crate) async fn wait_bound(&self, name: &str) -> String {
        let pod = self
            .wait_pod(name, &format!("pod {name} bound"), |p| {
                p.spec.node_name.is_some()
            })
            .await;
        pod.spec.node_name.unwrap()
    }

    /// Plays the node agent for pods being deleted: stops them at once and deletes them
    /// for good (grace period 0), as contract 5 asks of it.
    pub(crate) async fn finish_deletions(&self) -> usize {
        let mut n = 0;
        for pod in self.pods().list(&Default::default()).await.unwrap() {
            if pod.metadata.deletion_timestamp.is_some() {
                let name = pod.metadata.name.unwrap();
                let _ = self.pods().delete(&name, &DeleteParams::immediate()).await;
                n += 1;
            }
        }
        n
    }
}

/// Polls `probe` until it returns something, or fails the test after [`PATIENCE`].
pub(crate) async fn wait<T, F, Fut>(what: &str, probe: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The pod's `PodScheduled` condition.
pub(crate) fn scheduled_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status.condition(&PodConditionType::PodScheduled)
}

/// True when the pod says it is unschedulable.
pub(crate) fn is_unschedulable(pod: &Pod) -> bool {
    scheduled_condition(pod).is_some_and(|c| {
        c.status == ConditionStatus::False && c.reason.as_deref() == Some("Unschedulable")
    })
}

/// Settings with short backoffs, so retries come quickly.
pub(crate) fn fast_config() -> RunnerConfig {
    RunnerConfig {
        queue: QueueConfig {
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            ..QueueConfig::default()
        },
        shutdown_timeout: Duration::from_secs(10),
        ..RunnerConfig::default()
    }
}
